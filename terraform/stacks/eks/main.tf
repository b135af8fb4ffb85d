# Treeport on EKS: the bucket, the ECR repository, the VPC and cluster, and the IRSA role of the pods.
# `treeport deploy eks apply` then renders the k8s/ overlay with that role and the image, and applies it.

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

module "eks" {
  source = "../../modules/eks"

  name                 = "${var.name_prefix}-eks"
  kubernetes_version   = var.kubernetes_version
  az_count             = var.az_count
  enable_nat_gateway   = var.enable_nat_gateway
  single_nat_gateway   = var.single_nat_gateway
  public_access_cidrs  = var.public_access_cidrs
  node_instance_types  = var.node_instance_types
  node_min_size        = var.node_min_size
  node_desired_size    = var.node_desired_size
  node_max_size        = var.node_max_size
  model_store_uri      = local.model_store_uri
  model_kms_key_arn    = local.model_kms_key
  admin_principal_arns = var.admin_principal_arns
}
