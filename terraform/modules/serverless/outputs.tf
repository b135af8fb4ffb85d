output "api_url" {
  description = "Base URL of the stage; POST <api_url>/predict with header x-api-key."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "predict_url" {
  description = "URL of POST /predict."
  value       = "${aws_api_gateway_stage.this.invoke_url}/predict"
}

output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "Name of the deployed stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "api_key_id" {
  description = "ID of the API key (aws apigateway get-api-key --api-key <id> --include-value)."
  value       = aws_api_gateway_api_key.this.id
}

output "api_key_value" {
  description = "The API key clients send as x-api-key."
  value       = aws_api_gateway_api_key.this.value
  sensitive   = true
}

output "usage_plan_id" {
  description = "ID of the usage plan (throttle and quota per key); add more keys to it."
  value       = aws_api_gateway_usage_plan.this.id
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "access_log_group_name" {
  description = "CloudWatch log group of the API's access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe to it)."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the stack."
  value       = sort([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name])
}

output "rollback_alarm_names" {
  description = "The alarms a canary rollout watches: any of them in ALARM moves the live alias back."
  value       = [for k in local.rollback_alarms : aws_cloudwatch_metric_alarm.this[k].alarm_name]
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the API and the function."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "architecture" {
  description = "Instruction set the function runs on (x86_64 or arm64)."
  value       = one(aws_lambda_function.this.architectures)
}

output "authorization" {
  description = "How API Gateway authenticates callers: api_key, iam or cognito (the API key is required in every mode)."
  value       = var.authorization
}

output "invoke_arn_pattern" {
  description = "execute-api ARN of every method of the stage: the Resource of an IAM policy allowing execute-api:Invoke (authorization = \"iam\")."
  value       = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/*/*"
}

output "web_acl_arn" {
  description = "ARN of the WAFv2 web ACL in front of the stage (null when waf_enabled is false)."
  value       = one(aws_wafv2_web_acl.this[*].arn)
}

output "waf_log_group_name" {
  description = "CloudWatch log group of the web ACL's request logs (null when waf_enabled is false)."
  value       = one(aws_cloudwatch_log_group.waf[*].name)
}
