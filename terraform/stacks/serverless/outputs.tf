output "model_store_uri" {
  description = "Model store the function serves from: `treeport train --store <this>` publishes into it."
  value       = local.model_store_uri
}

output "ecr_repository_url" {
  description = "Where to push the Lambda image (docker push <url>:<tag>)."
  value       = module.storage.ecr_repository_urls["lambda"]
}

output "api_url" {
  description = "Base URL of the API stage (null until image_uri is set)."
  value       = try(module.serverless[0].api_url, null)
}

output "predict_url" {
  description = "POST here with header x-api-key (null until image_uri is set)."
  value       = try(module.serverless[0].predict_url, null)
}

output "api_key_id" {
  description = "ID of the API key (null until image_uri is set)."
  value       = try(module.serverless[0].api_key_id, null)
}

output "api_key_value" {
  description = "The API key: terraform output -raw api_key_value."
  value       = try(module.serverless[0].api_key_value, null)
  sensitive   = true
}

output "function_name" {
  description = "Name of the Lambda function (null until image_uri is set)."
  value       = try(module.serverless[0].function_name, null)
}

output "rest_api_id" {
  description = "ID of the REST API (null until image_uri is set)."
  value       = try(module.serverless[0].rest_api_id, null)
}

output "stage_name" {
  description = "Stage of the REST API (null until image_uri is set)."
  value       = try(module.serverless[0].stage_name, null)
}

output "usage_plan_id" {
  description = "Usage plan of the API key (null until image_uri is set)."
  value       = try(module.serverless[0].usage_plan_id, null)
}

output "next_step" {
  description = "What to do next."
  value = var.image_uri == null ? join(" ", [
    "Push the Lambda image to ${module.storage.ecr_repository_urls["lambda"]}, train into ${local.model_store_uri},",
    "then apply again with image_uri set.",
    ]) : join(" ", [
    "curl -X POST ${try(module.serverless[0].predict_url, "")} -H \"x-api-key: $(terraform output -raw api_key_value)\"",
    "-H 'Content-Type: application/json' -d @request.json",
  ])
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies: subscribe to it (aws sns subscribe --topic-arn <this> --protocol email ...)."
  value       = try(module.serverless[0].alarm_topic_arn, null)
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the stack."
  value       = try(module.serverless[0].alarm_names, [])
}

output "rollback_alarm_names" {
  description = "Alarms `treeport deploy serverless rollout` watches during a canary; one in ALARM rolls it back."
  value       = try(module.serverless[0].rollback_alarm_names, [])
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the API and the function."
  value       = try(module.serverless[0].dashboard_name, null)
}

output "authorization" {
  description = "How API Gateway authenticates callers (api_key, iam or cognito); the x-api-key header is required in every mode."
  value       = var.authorization
}

output "invoke_arn_pattern" {
  description = "execute-api ARN of every method: allow execute-api:Invoke on it in the callers' IAM policies (authorization = \"iam\"; null until image_uri is set)."
  value       = try(module.serverless[0].invoke_arn_pattern, null)
}

output "web_acl_arn" {
  description = "WAFv2 web ACL in front of the API (null when waf_enabled is false or until image_uri is set)."
  value       = try(module.serverless[0].web_acl_arn, null)
}
