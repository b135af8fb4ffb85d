# Treeport on EKS: the bucket, the ECR repository, the VPC and cluster, and the IRSA role of the pods.
# `treeport deploy eks apply` then renders the k8s/ overlay with that role and the image, and applies it.

locals {
  stack            = "eks"
  image_repository = "serve"
}

module "eks" {
  source = "../../modules/eks"

  name               = "${var.name_prefix}-eks"
  kubernetes_version = var.kubernetes_version
  az_count           = var.az_count
  enable_nat_gateway = var.enable_nat_gateway
  single_nat_gateway = var.single_nat_gateway
  # Public only towards the ranges given; none given, the API is private to the VPC.
  endpoint_public_access = length(var.public_access_cidrs) > 0
  public_access_cidrs    = var.public_access_cidrs
  node_instance_types    = var.node_instance_types
  node_min_size          = var.node_min_size
  node_desired_size      = var.node_desired_size
  node_max_size          = var.node_max_size
  model_store_uri        = local.model_store_uri
  model_kms_key_arn      = local.model_kms_key
  admin_principal_arns   = var.admin_principal_arns
}
