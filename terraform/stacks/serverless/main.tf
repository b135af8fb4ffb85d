# Treeport on Lambda behind API Gateway. First apply (no image_uri): the bucket and the ECR repository.
# Push the Lambda image, publish a model to the store, then apply again with image_uri: the function and the API.

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
  ecr_repositories = ["lambda"]
  force_destroy    = var.force_destroy
}

module "serverless" {
  source = "../../modules/serverless"
  count  = var.image_uri == null ? 0 : 1

  name                    = "${var.name_prefix}-api"
  image_uri               = var.image_uri
  model_store_uri         = local.model_store_uri
  model_kms_key_arn       = local.model_kms_key
  model_name              = var.model_name
  model_version           = var.model_version
  backend                 = var.backend
  sagemaker_endpoint_name = var.sagemaker_endpoint_name
  memory_size             = var.memory_size
  timeout                 = var.timeout
  reserved_concurrency    = var.reserved_concurrency
  provisioned_concurrency = var.provisioned_concurrency
  throttle_rate_limit     = var.throttle_rate_limit
  throttle_burst_limit    = var.throttle_burst_limit
  quota_limit             = var.quota_limit
}
