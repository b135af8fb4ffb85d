# The API requires an API key on every method, throttles every method and every key, writes access logs; the
# function reads only the model prefix, writes only its own log group, and invokes only its one endpoint.
# Offline: the AWS provider is mocked.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/treeport-api" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:treeport-api", version = "1" }
  }
  mock_resource "aws_lambda_alias" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:treeport-api:live"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:treeport-api:live/invocations"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:treeport-api-alarms" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:treeport-api" }
  }
  mock_resource "aws_api_gateway_stage" {
    defaults = {
      arn        = "arn:aws:apigateway:us-east-1::/restapis/abcdef1234/stages/v1"
      invoke_url = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1"
    }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/treeport-api/0123abcd" }
  }
  mock_resource "aws_api_gateway_rest_api" {
    defaults = {
      execution_arn    = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234"
      root_resource_id = "root0000"
    }
  }
}

variables {
  name            = "treeport-api"
  image_uri       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/lambda:0.1.0"
  model_store_uri = "s3://treeport-models/models"
}

run "every_method_needs_an_api_key_and_is_throttled" {
  command = apply

  assert {
    condition     = aws_api_gateway_method.predict.api_key_required && aws_api_gateway_method.proxy.api_key_required
    error_message = "POST /predict and /{proxy+} must require an API key."
  }

  assert {
    condition     = aws_api_gateway_method.predict.http_method == "POST" && aws_api_gateway_resource.predict.path_part == "predict"
    error_message = "The API must have POST /predict."
  }

  assert {
    condition     = aws_api_gateway_integration.predict.type == "AWS_PROXY" && aws_api_gateway_integration.proxy.type == "AWS_PROXY"
    error_message = "Both routes must be Lambda proxy integrations."
  }

  assert {
    condition     = aws_api_gateway_rest_api.this.binary_media_types == tolist(["application/vnd.apache.arrow.stream"])
    error_message = "Arrow IPC bodies must pass through API Gateway as binary, not be mangled as text."
  }

  assert {
    condition     = aws_api_gateway_method_settings.this.method_path == "*/*" && aws_api_gateway_method_settings.this.settings[0].throttling_rate_limit == 50 && aws_api_gateway_method_settings.this.settings[0].throttling_burst_limit == 100
    error_message = "Every method of the stage must be throttled."
  }

  assert {
    condition     = aws_api_gateway_method_settings.this.settings[0].data_trace_enabled == false
    error_message = "Request bodies must never be copied into execution logs."
  }

  assert {
    condition     = aws_api_gateway_usage_plan.this.throttle_settings[0].rate_limit == 50 && aws_api_gateway_usage_plan.this.quota_settings[0].limit == 1000000 && aws_api_gateway_usage_plan.this.quota_settings[0].period == "MONTH"
    error_message = "The usage plan must throttle and cap each key."
  }

  assert {
    condition     = aws_api_gateway_usage_plan_key.this.key_id == aws_api_gateway_api_key.this.id && aws_api_gateway_usage_plan_key.this.usage_plan_id == aws_api_gateway_usage_plan.this.id
    error_message = "The API key must belong to the usage plan."
  }

  assert {
    condition     = one(aws_api_gateway_usage_plan.this.api_stages).stage == aws_api_gateway_stage.this.stage_name
    error_message = "The usage plan must cover the stage."
  }

  assert {
    condition     = aws_api_gateway_stage.this.access_log_settings[0].destination_arn == aws_cloudwatch_log_group.access.arn
    error_message = "The stage must write access logs to its own log group."
  }

  assert {
    condition     = aws_api_gateway_gateway_response.this["INVALID_API_KEY"].status_code == "401" && aws_api_gateway_gateway_response.this["THROTTLED"].status_code == "429"
    error_message = "A missing key answers 401 and throttling 429, as the app does."
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.retention_in_days == 365 && aws_cloudwatch_log_group.access.retention_in_days == 365
    error_message = "Log groups must have a retention."
  }
}

run "the_function_reads_only_the_model_prefix_and_writes_only_its_log_group" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : [
        for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")
      ]
    ]))
    error_message = "No statement may allow \"*\" or service:* actions."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource != "*" if s.Sid != "WriteTraces"
    ])
    error_message = "Only the X-Ray statement (which has no resource-level permissions) may name every resource."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "ReadModelStore"
    ]).Resource == "arn:aws:s3:::treeport-models/models/*"
    error_message = "s3:GetObject must be scoped to the model prefix."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "ListModelStore"
    ]).Condition.StringLike["s3:prefix"] == ["models", "models/*"]
    error_message = "s3:ListBucket must be limited to the model prefix."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "WriteOwnLogGroup"
    ]).Resource == "${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"
    error_message = "Logging must be scoped to the function's own log group."
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "InvokeOneEndpoint"]) == 0
    error_message = "The local backend must not be allowed to invoke SageMaker."
  }

  assert {
    condition     = aws_lambda_permission.api.source_arn == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/*/*"
    error_message = "Only this API's stage may invoke the function."
  }
}

run "the_function_is_configured_for_the_local_backend" {
  command = apply

  assert {
    condition     = aws_lambda_function.this.package_type == "Image" && aws_lambda_function.this.image_uri == var.image_uri
    error_message = "The function runs the given image."
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["TREEPORT_MODEL_STORE"] == "s3://treeport-models/models" &&
      aws_lambda_function.this.environment[0].variables["TREEPORT_MODEL_NAME"] == "credit-risk" &&
      aws_lambda_function.this.environment[0].variables["TREEPORT_MODEL_VERSION"] == "LATEST" &&
      aws_lambda_function.this.environment[0].variables["TREEPORT_BACKEND"] == "local"
    )
    error_message = "The function's environment must name the store, model, version and backend."
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "TREEPORT_SAGEMAKER_ENDPOINT")
    error_message = "The local backend has no endpoint."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["TREEPORT_API_KEYS"] == sha256(aws_api_gateway_api_key.this.value)
    error_message = "The app checks the SHA-256 of the API key too."
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 50 && aws_lambda_function.this.memory_size == 2048 && aws_lambda_function.this.architectures[0] == "x86_64"
    error_message = "Default sizes: 2048 MiB, x86_64, 50 reserved executions."
  }

  assert {
    condition     = length(aws_lambda_provisioned_concurrency_config.this) == 0
    error_message = "No provisioned concurrency unless asked for."
  }
}

run "the_sagemaker_backend_may_invoke_its_one_endpoint" {
  command = apply

  variables {
    backend                 = "sagemaker"
    sagemaker_endpoint_name = "Treeport-Endpoint"
    provisioned_concurrency = 2
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["TREEPORT_BACKEND"] == "sagemaker" && aws_lambda_function.this.environment[0].variables["TREEPORT_SAGEMAKER_ENDPOINT"] == "Treeport-Endpoint"
    error_message = "The sagemaker backend must name its endpoint."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "InvokeOneEndpoint"
    ]).Resource == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/treeport-endpoint"
    error_message = "sagemaker:InvokeEndpoint must be scoped to the one endpoint."
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.this[0].provisioned_concurrent_executions == 2 && aws_lambda_provisioned_concurrency_config.this[0].qualifier == "live"
    error_message = "Provisioned concurrency goes on the live alias that API Gateway invokes."
  }
}

run "the_sagemaker_backend_needs_an_endpoint" {
  command = plan

  variables {
    backend = "sagemaker"
  }

  expect_failures = [var.backend]
}

run "rejects_an_unknown_backend" {
  command = plan

  variables {
    backend = "daal4py"
  }

  expect_failures = [var.backend]
}

run "rejects_an_image_outside_ecr" {
  command = plan

  variables {
    image_uri = "docker.io/library/python:3.12"
  }

  expect_failures = [var.image_uri]
}

run "refuses_arm64_with_the_local_backend" {
  command = plan

  # daal4py (oneDAL) is built for x86-64 only: the local backend cannot run on Graviton.
  variables {
    architecture = "arm64"
  }

  expect_failures = [var.architecture]
}

run "arm64_is_fine_when_sagemaker_predicts" {
  command = plan

  variables {
    architecture            = "arm64"
    backend                 = "sagemaker"
    sagemaker_endpoint_name = "treeport-endpoint"
  }

  assert {
    condition     = one(aws_lambda_function.this.architectures) == "arm64"
    error_message = "The sagemaker backend (no daal4py in the Lambda) may run on arm64."
  }
}

run "rejects_memory_out_of_range" {
  command = plan

  variables {
    memory_size = 20000
  }

  expect_failures = [var.memory_size]
}

run "alarms_watch_the_api_and_the_function_and_notify_one_topic" {
  command = apply

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 7 && alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn]) && a.treat_missing_data == "notBreaching"])
    error_message = "Seven alarms, each notifying the alarm topic when it fires and when it clears; no traffic is not a fault."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["api-5xx-rate"].namespace == "AWS/ApiGateway" && aws_cloudwatch_metric_alarm.this["api-5xx-rate"].metric_name == "5XXError" && aws_cloudwatch_metric_alarm.this["api-5xx-rate"].statistic == "Average" && aws_cloudwatch_metric_alarm.this["api-5xx-rate"].threshold == 0.01 && aws_cloudwatch_metric_alarm.this["api-5xx-rate"].dimensions["ApiName"] == "treeport-api" && aws_cloudwatch_metric_alarm.this["api-5xx-rate"].dimensions["Stage"] == "v1"
    error_message = "API Gateway 5XX must alarm on its rate (1% by default) for this API's stage."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["api-4xx-rate"].metric_name == "4XXError" && aws_cloudwatch_metric_alarm.this["api-4xx-rate"].threshold == 0.1
    error_message = "API Gateway 4XX (throttles included) must alarm on its rate."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["api-latency-p99"].metric_name == "Latency" && aws_cloudwatch_metric_alarm.this["api-latency-p99"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["api-latency-p99"].statistic == null && aws_cloudwatch_metric_alarm.this["api-latency-p99"].threshold == 2000
    error_message = "API latency must alarm on its p99."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["lambda-errors"].namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.this["lambda-errors"].metric_name == "Errors" && aws_cloudwatch_metric_alarm.this["lambda-errors"].dimensions["FunctionName"] == "treeport-api" && aws_cloudwatch_metric_alarm.this["lambda-errors"].dimensions["Resource"] == "treeport-api:live"
    error_message = "Lambda errors must be those of the live alias (both versions of a canary)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["lambda-duration-p99"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["lambda-throttles"].metric_name == "Throttles" && aws_cloudwatch_metric_alarm.this["lambda-concurrency"].metric_name == "ConcurrentExecutions"
    error_message = "Lambda duration p99, throttles and concurrency must have alarms."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["lambda-concurrency"].threshold == 40
    error_message = "The concurrency alarm defaults to 80% of the reserved concurrency (50)."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.period == 60 && a.evaluation_periods == 2 && a.datapoints_to_alarm == 2])
    error_message = "Alarms fire after two breaching one-minute periods by default."
  }

  assert {
    condition     = output.rollback_alarm_names == ["treeport-api-api-5xx-rate", "treeport-api-api-latency-p99", "treeport-api-lambda-errors", "treeport-api-lambda-duration-p99"]
    error_message = "A canary must watch the API's 5XX and latency and the function's errors and duration."
  }

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == "alias/aws/sns" && output.alarm_topic_arn == aws_sns_topic.alarms.arn
    error_message = "The alarm topic must be encrypted and be an output."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 5 && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "5XXError") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "ConcurrentExecutions") && output.dashboard_name == "treeport-api"
    error_message = "One dashboard with the API's and the function's metrics and the alarms."
  }
}

run "alarm_thresholds_are_variables" {
  command = plan

  variables {
    alarm_thresholds         = { api_5xx_rate = 0.05, lambda_errors = 20, lambda_concurrency = 7 }
    alarm_evaluation_periods = 3
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["api-5xx-rate"].threshold == 0.05 && aws_cloudwatch_metric_alarm.this["lambda-errors"].threshold == 20 && aws_cloudwatch_metric_alarm.this["lambda-concurrency"].threshold == 7 && aws_cloudwatch_metric_alarm.this["api-latency-p99"].threshold == 2000
    error_message = "Given thresholds must be used, the others keep their defaults."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["lambda-errors"].evaluation_periods == 3
    error_message = "alarm_evaluation_periods must reach every alarm."
  }
}

run "unreserved_concurrency_alarms_at_80_percent_of_the_account_limit" {
  command = plan

  variables {
    reserved_concurrency = -1
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["lambda-concurrency"].threshold == 800
    error_message = "Without reserved concurrency the alarm is at 80% of the default account limit (1000)."
  }
}

run "a_rate_above_one_is_refused" {
  command = plan

  variables {
    alarm_thresholds = { api_5xx_rate = 5 }
  }

  expect_failures = [var.alarm_thresholds]
}

run "a_latency_past_api_gateways_limit_is_refused" {
  command = plan

  variables {
    alarm_thresholds = { api_latency_p99_ms = 30000 }
  }

  expect_failures = [var.alarm_thresholds]
}

run "a_zero_error_count_is_refused" {
  command = plan

  variables {
    alarm_thresholds = { lambda_errors = 0 }
  }

  expect_failures = [var.alarm_thresholds]
}

run "an_odd_alarm_period_is_refused" {
  command = plan

  variables {
    alarm_period_seconds = 45
  }

  expect_failures = [var.alarm_period_seconds]
}

# --- who may call, and the firewall in front of the stage ---------------------------------------------------------

run "by_default_the_api_key_authenticates_and_a_web_acl_guards_the_stage" {
  command = apply

  assert {
    condition     = aws_api_gateway_method.predict.authorization == "NONE" && aws_api_gateway_method.proxy.authorization == "NONE" && length(aws_api_gateway_authorizer.cognito) == 0 && output.authorization == "api_key"
    error_message = "The default mode is the API key alone, with no authorizer."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this) == 1 && aws_wafv2_web_acl.this[0].scope == "REGIONAL" && length(aws_wafv2_web_acl.this[0].default_action[0].allow) == 1
    error_message = "A regional web ACL (allow unless a rule blocks) must exist by default."
  }

  assert {
    condition     = aws_wafv2_web_acl_association.this[0].resource_arn == aws_api_gateway_stage.this.arn && aws_wafv2_web_acl_association.this[0].web_acl_arn == aws_wafv2_web_acl.this[0].arn
    error_message = "The web ACL must be associated with the API's stage."
  }

  assert {
    condition = toset([for r in aws_wafv2_web_acl.this[0].rule : r.statement[0].managed_rule_group_statement[0].name if length(r.statement[0].managed_rule_group_statement) > 0]) == toset(["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]) && alltrue([
      for r in aws_wafv2_web_acl.this[0].rule : r.statement[0].managed_rule_group_statement[0].vendor_name == "AWS" && length(r.override_action[0].none) == 1 if length(r.statement[0].managed_rule_group_statement) > 0
    ])
    error_message = "AWS's common rule set and known bad inputs must apply, their own actions kept (override none)."
  }

  assert {
    condition = [
      for r in aws_wafv2_web_acl.this[0].rule : [for o in r.statement[0].managed_rule_group_statement[0].rule_action_override : o.name if length(o.action_to_use[0].count) == 1]
      if length(r.statement[0].managed_rule_group_statement) > 0 && r.name == "AWSManagedRulesCommonRuleSet"
    ] == [["SizeRestrictions_BODY"]]
    error_message = "Only the common rules' 8 KB body limit counts instead of blocking (batch predictions are bigger)."
  }

  assert {
    condition = one([
      for r in aws_wafv2_web_acl.this[0].rule : r if length(r.statement[0].rate_based_statement) > 0
      ]).statement[0].rate_based_statement[0].limit == 2000 && one([
      for r in aws_wafv2_web_acl.this[0].rule : r if length(r.statement[0].rate_based_statement) > 0
      ]).statement[0].rate_based_statement[0].aggregate_key_type == "IP" && length(one([
        for r in aws_wafv2_web_acl.this[0].rule : r if length(r.statement[0].rate_based_statement) > 0
    ]).action[0].block) == 1
    error_message = "A rate rule must block a client IP past 2000 requests per window."
  }

  assert {
    condition     = alltrue([for r in aws_wafv2_web_acl.this[0].rule : r.visibility_config[0].cloudwatch_metrics_enabled && r.visibility_config[0].sampled_requests_enabled]) && aws_wafv2_web_acl.this[0].visibility_config[0].cloudwatch_metrics_enabled
    error_message = "Every rule and the web ACL must publish metrics and sample requests."
  }

  assert {
    condition     = startswith(aws_cloudwatch_log_group.waf[0].name, "aws-waf-logs-") && aws_wafv2_web_acl_logging_configuration.this[0].log_destination_configs == toset([aws_cloudwatch_log_group.waf[0].arn]) && aws_wafv2_web_acl_logging_configuration.this[0].resource_arn == aws_wafv2_web_acl.this[0].arn
    error_message = "The web ACL must log to its own aws-waf-logs-* log group."
  }

  assert {
    condition     = toset([for f in aws_wafv2_web_acl_logging_configuration.this[0].redacted_fields : f.single_header[0].name]) == toset(["x-api-key", "authorization"])
    error_message = "The API key and the Authorization header must be redacted from WAF logs."
  }

  assert {
    condition     = aws_api_gateway_gateway_response.this["WAF_FILTERED"].status_code == "403" && aws_api_gateway_gateway_response.this["UNAUTHORIZED"].status_code == "401"
    error_message = "WAF blocks and rejected tokens must answer in the app's error shape."
  }

  assert {
    condition     = output.web_acl_arn == aws_wafv2_web_acl.this[0].arn && output.waf_log_group_name == "aws-waf-logs-treeport-api"
    error_message = "The web ACL and its log group must be outputs."
  }
}

run "iam_mode_signs_every_method_and_keeps_the_key_for_the_usage_plan" {
  command = apply

  variables {
    authorization = "iam"
  }

  assert {
    condition     = aws_api_gateway_method.predict.authorization == "AWS_IAM" && aws_api_gateway_method.proxy.authorization == "AWS_IAM"
    error_message = "IAM mode must set AWS_IAM on every method."
  }

  assert {
    condition     = aws_api_gateway_method.predict.api_key_required && aws_api_gateway_method.proxy.api_key_required && aws_api_gateway_usage_plan_key.this.key_id == aws_api_gateway_api_key.this.id
    error_message = "The API key (usage plan) stays required with IAM auth."
  }

  assert {
    condition     = length(aws_api_gateway_authorizer.cognito) == 0 && aws_api_gateway_method.predict.authorizer_id == null
    error_message = "IAM mode needs no authorizer."
  }

  assert {
    condition     = output.invoke_arn_pattern == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/*/*"
    error_message = "The ARN callers' IAM policies allow execute-api:Invoke on must be an output."
  }
}

run "cognito_mode_checks_tokens_of_the_given_pools" {
  command = apply

  variables {
    authorization                = "cognito"
    cognito_user_pool_arns       = ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"]
    cognito_authorization_scopes = ["treeport/predict"]
  }

  assert {
    condition     = aws_api_gateway_authorizer.cognito[0].type == "COGNITO_USER_POOLS" && aws_api_gateway_authorizer.cognito[0].provider_arns == toset(var.cognito_user_pool_arns) && aws_api_gateway_authorizer.cognito[0].identity_source == "method.request.header.Authorization"
    error_message = "A Cognito user pool authorizer must read the Authorization header."
  }

  assert {
    condition = alltrue([
      for m in [aws_api_gateway_method.predict, aws_api_gateway_method.proxy] :
      m.authorization == "COGNITO_USER_POOLS" && m.authorizer_id == aws_api_gateway_authorizer.cognito[0].id && m.authorization_scopes == toset(["treeport/predict"]) && m.api_key_required
    ])
    error_message = "Every method must use the authorizer, ask for the scope, and still require the API key."
  }
}

run "cognito_mode_needs_a_user_pool" {
  command = plan

  variables {
    authorization = "cognito"
  }

  expect_failures = [var.authorization]
}

run "rejects_an_unknown_authorization" {
  command = plan

  variables {
    authorization = "jwt"
  }

  expect_failures = [var.authorization]
}

run "scopes_without_cognito_are_refused" {
  command = plan

  variables {
    cognito_authorization_scopes = ["treeport/predict"]
  }

  expect_failures = [var.cognito_authorization_scopes]
}

run "the_web_acl_can_be_turned_off" {
  command = plan

  variables {
    waf_enabled = false
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this) == 0 && length(aws_wafv2_web_acl_association.this) == 0 && length(aws_cloudwatch_log_group.waf) == 0 && output.web_acl_arn == null
    error_message = "waf_enabled = false must create no web ACL, association or WAF log group."
  }
}

run "the_rate_limit_is_a_variable" {
  command = plan

  variables {
    waf_rate_limit          = 500
    waf_rate_window_seconds = 60
  }

  assert {
    condition = one([
      for r in aws_wafv2_web_acl.this[0].rule : r.statement[0].rate_based_statement[0] if length(r.statement[0].rate_based_statement) > 0
    ]).limit == 500
    error_message = "waf_rate_limit must reach the rate rule."
  }
}

run "a_rate_limit_below_wafs_minimum_is_refused" {
  command = plan

  variables {
    waf_rate_limit = 5
  }

  expect_failures = [var.waf_rate_limit]
}
