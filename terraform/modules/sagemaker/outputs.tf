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

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe to it)."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the endpoint."
  value       = sort([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name])
}

output "rollback_alarm_names" {
  description = "The alarms a blue/green deployment watches: one in ALARM while traffic shifts or bakes rolls it back (empty on serverless endpoints, which get no deployment guardrails)."
  value       = local.rollout_enabled ? [for k in local.rollback_alarms : aws_cloudwatch_metric_alarm.this[k].alarm_name] : []
}

output "rollout" {
  description = "The endpoint's blue/green deployment policy (traffic, size, waits, timeout); null on serverless endpoints."
  value       = local.rollout_enabled ? local.rollout : null
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the endpoint."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "model_data_url" {
  description = "The model.tar.gz the endpoint serves (null: it reads model_version from the model store)."
  value       = var.model_data_url
}
