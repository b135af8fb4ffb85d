# Treeport on a SageMaker real-time endpoint, plus the training pipeline. First apply (no image_uri): the bucket and
# the ECR repository. Push the image, publish a model to the store, then apply again with image_uri.

locals {
  stack            = "sagemaker"
  image_repository = "serve"
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
  model_data_url         = var.model_data_url
  rollout                = var.rollout
  alarm_thresholds       = var.alarm_thresholds
  endpoint_mode          = var.endpoint_mode
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

  vpc_id                     = try(var.vpc.id, null)
  vpc_subnet_ids             = try(var.vpc.subnet_ids, [])
  vpc_security_group_ids     = try(var.vpc.security_group_ids, [])
  create_s3_gateway_endpoint = try(var.vpc.create_s3_gateway_endpoint, false)
  vpc_route_table_ids        = try(var.vpc.route_table_ids, [])

  serverless_memory_mb               = var.serverless_memory_mb
  serverless_max_concurrency         = var.serverless_max_concurrency
  serverless_provisioned_concurrency = var.serverless_provisioned_concurrency
}
