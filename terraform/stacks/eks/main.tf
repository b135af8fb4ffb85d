# Treeport on EKS: the bucket, the ECR repository, the VPC, an EKS Auto Mode cluster with metrics-server and Container
# Insights, the IRSA role of the pods, and the alarms. `treeport deploy eks apply` then renders the Xeon NodePool
# (k8s/eks-auto-mode) and the k8s/ overlay with that role and the image, and applies them.

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
  node_instance_families = var.node_instance_families
  node_pool_cpu_limit    = var.node_pool_cpu_limit
  drift_alarm_enabled    = var.drift_alarm_enabled
  # Only the thresholds given: the module's defaults fill the rest.
  alarm_thresholds     = { for k, v in var.alarm_thresholds : k => v if v != null }
  model_store_uri      = local.model_store_uri
  model_kms_key_arn    = local.model_kms_key
  admin_principal_arns = var.admin_principal_arns
}
