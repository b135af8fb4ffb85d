# The model store every stack serves from: a bucket of its own (with the ECR repository of its image) unless
# model_store_uri names one made elsewhere. Linked into each stack as shared_stack_storage.tf; a stack names its
# image's repository in local.image_repository.

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
  ecr_repositories = [local.image_repository]
  force_destroy    = var.force_destroy
}
