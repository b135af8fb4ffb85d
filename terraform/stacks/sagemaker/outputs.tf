output "model_store_uri" {
  description = "Model store the endpoint serves from: `treeport train --store <this>` publishes into it."
  value       = local.model_store_uri
}

output "model_kms_key_arn" {
  description = "KMS key of the model bucket (pass to the serverless stack with its sagemaker backend)."
  value       = local.model_kms_key
}

output "ecr_repository_url" {
  description = "Where to push the serving/training image (docker push <url>:<tag>)."
  value       = module.storage.ecr_repository_urls["serve"]
}

output "endpoint_name" {
  description = "SageMaker endpoint (aws sagemaker-runtime invoke-endpoint --endpoint-name <this>; the serverless stack's sagemaker_endpoint_name)."
  value       = try(module.sagemaker[0].endpoint_name, null)
}

output "endpoint_config_name" {
  description = "The endpoint's current configuration."
  value       = try(module.sagemaker[0].endpoint_config_name, null)
}

output "sagemaker_model_name" {
  description = "The SageMaker model the endpoint runs."
  value       = try(module.sagemaker[0].model_name, null)
}

output "pipeline_name" {
  description = "Training pipeline (aws sagemaker start-pipeline-execution --pipeline-name <this>)."
  value       = try(module.sagemaker[0].pipeline_name, null)
}

output "model_package_group_name" {
  description = "Where the pipeline registers models."
  value       = try(module.sagemaker[0].model_package_group_name, null)
}

output "training_data_uri" {
  description = "Default S3 prefix the pipeline trains on."
  value       = try(module.sagemaker[0].training_data_uri, null)
}

output "model_data_url" {
  description = "The model.tar.gz the endpoint serves (null: model_version from the store)."
  value       = var.model_data_url
}

output "alarm_topic_arn" {
  description = "SNS topic every endpoint alarm notifies: subscribe to it."
  value       = try(module.sagemaker[0].alarm_topic_arn, null)
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the endpoint."
  value       = try(module.sagemaker[0].alarm_names, [])
}

output "rollback_alarm_names" {
  description = "Alarms the endpoint's blue/green deployments watch; one in ALARM rolls the deployment back."
  value       = try(module.sagemaker[0].rollback_alarm_names, [])
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the endpoint."
  value       = try(module.sagemaker[0].dashboard_name, null)
}

output "next_step" {
  description = "What to do next."
  value = var.image_uri == null ? join(" ", [
    "Push the image to ${module.storage.ecr_repository_urls["serve"]}, train into ${local.model_store_uri},",
    "then apply again with image_uri set.",
    ]) : join(" ", [
    "aws sagemaker-runtime invoke-endpoint --endpoint-name ${try(module.sagemaker[0].endpoint_name, "")}",
    "--content-type application/json --body fileb://request.json /dev/stdout",
  ])
}
