# Treeport on a SageMaker real-time endpoint, plus the training pipeline. First apply (no image_uri): the bucket and
# the ECR repository. Push the image, publish a model to the store, then apply again with image_uri.

data "aws_caller_identity" "current" {}

locals {
  create_bucket   = var.model_store_uri == null
  bucket_name     = "${var.name_prefix}-models-${data.aws_caller_identity.current.account_id}-${var.region}"
  model_store_uri = coalesce(var.model_store_uri, "s3://${local.bucket_name}/models")
  model_kms_key   = local.create_bucket ? module.storage.kms_key_arn : var.model_kms_key_arn
}

module "storage" {
  source = "../../modules/storage"

  name_prefix      = var.name_prefix
  create_bucket    = local.create_bucket
  bucket_name      = local.create_bucket ? local.bucket_name : null
  ecr_repositories = ["serve"]
  force_destroy    = var.force_destroy
}

module "sagemaker" {
  source = "../../modules/sagemaker"
  count  = var.image_uri == null ? 0 : 1

  name                   = "${var.name_prefix}-endpoint"
  image_uri              = var.image_uri
  model_store_uri        = local.model_store_uri
  kms_key_arn            = local.model_kms_key
  model_name             = var.model_name
  model_version          = var.model_version
  instance_type          = var.instance_type
  initial_instance_count = var.min_capacity
  min_capacity           = var.min_capacity
  max_capacity           = var.max_capacity
  data_capture_enabled   = var.data_capture_enabled
  create_pipeline        = var.create_pipeline
  training_instance_type = var.training_instance_type
  hyperparameters        = var.hyperparameters
  gate_metric            = var.gate_metric
  gate_threshold         = var.gate_threshold
}
