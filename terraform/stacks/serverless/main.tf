# Treeport on Lambda behind API Gateway. First apply (no image_uri): the bucket and the ECR repository.
# Push the Lambda image, publish a model to the store, then apply again with image_uri: the function and the API.

locals {
  stack            = "serverless"
  image_repository = "lambda"
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
  architecture            = var.architecture
  sagemaker_endpoint_name = var.sagemaker_endpoint_name
  memory_size             = var.memory_size
  timeout                 = var.timeout
  reserved_concurrency    = var.reserved_concurrency
  provisioned_concurrency = var.provisioned_concurrency
  throttle_rate_limit     = var.throttle_rate_limit
  throttle_burst_limit    = var.throttle_burst_limit
  quota_limit             = var.quota_limit
  alarm_thresholds        = var.alarm_thresholds

  authorization                = var.authorization
  cognito_user_pool_arns       = var.cognito_user_pool_arns
  cognito_authorization_scopes = var.cognito_authorization_scopes
  waf_enabled                  = var.waf_enabled
  waf_rate_limit               = var.waf_rate_limit
}
