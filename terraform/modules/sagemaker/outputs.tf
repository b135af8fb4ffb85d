output "endpoint_name" {
  description = "Name of the SageMaker endpoint (TREEPORT_SAGEMAKER_ENDPOINT for the Lambda's sagemaker backend)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_config_name" {
  description = "Name of the endpoint's current configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Name of the SageMaker model."
  value       = aws_sagemaker_model.this.name
}

output "endpoint_role_arn" {
  description = "ARN of the endpoint's execution role."
  value       = aws_iam_role.endpoint.arn
}

output "pipeline_name" {
  description = "Name of the training pipeline (null when create_pipeline is false)."
  value       = try(aws_sagemaker_pipeline.this[0].pipeline_name, null)
}

output "pipeline_role_arn" {
  description = "ARN of the pipeline's execution role (null when create_pipeline is false)."
  value       = try(aws_iam_role.pipeline[0].arn, null)
}

output "model_package_group_name" {
  description = "Model package group the pipeline registers into (null when create_pipeline is false)."
  value       = try(aws_sagemaker_model_package_group.this[0].model_package_group_name, null)
}

output "training_data_uri" {
  description = "Default S3 prefix the pipeline trains on (its TrainingData parameter)."
  value       = "s3://${local.store_bucket}/${local.data_prefix}/"
}

output "log_group_name" {
  description = "CloudWatch log group of the endpoint."
  value       = aws_cloudwatch_log_group.this.name
}
