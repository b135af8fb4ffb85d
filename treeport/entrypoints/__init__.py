"""The container images' entrypoints, apart from the command line: `container` (the image's ENTRYPOINT: serve,
train or any command) and `sagemaker_train` (SageMaker's training contract under /opt/ml)."""
