# The Lambda (the Flask app in a container image) behind an API Gateway REST API that requires an API key,
# throttles every method and writes access logs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  endpoint_arn = var.sagemaker_endpoint_name == null ? null : "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:endpoint/${lower(var.sagemaker_endpoint_name)}"

  environment = merge(
    var.environment,
    {
      TREEPORT_MODEL_STORE   = var.model_store_uri
      TREEPORT_MODEL_NAME    = var.model_name
      TREEPORT_MODEL_VERSION = var.model_version
      TREEPORT_BACKEND       = var.backend
    },
    var.backend == "sagemaker" ? { TREEPORT_SAGEMAKER_ENDPOINT = var.sagemaker_endpoint_name } : {},
    var.check_api_key_in_app ? { TREEPORT_API_KEYS = sha256(aws_api_gateway_api_key.this.value) } : {},
  )

  policy_statements = concat(
    [
      {
        Sid      = "WriteOwnLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"
      },
    ],
    module.store.statements,
    var.backend != "sagemaker" ? [] : [{
      Sid      = "InvokeOneEndpoint"
      Effect   = "Allow"
      Action   = ["sagemaker:InvokeEndpoint"]
      Resource = local.endpoint_arn
    }],
    # X-Ray has no resource-level permissions: these two write-only actions can only be granted on "*".
    !var.tracing_enabled ? [] : [{
      Sid      = "WriteTraces"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      Resource = "*"
    }],
  )

  # The methods' authorization type for each mode of var.authorization.
  method_authorization = { api_key = "NONE", iam = "AWS_IAM", cognito = "COGNITO_USER_POOLS" }[var.authorization]
  authorizer_id        = one(aws_api_gateway_authorizer.cognito[*].id)
  # With scopes API Gateway takes an access token holding one of them; without, an ID token of the pool.
  authorization_scopes = var.authorization == "cognito" && length(var.cognito_authorization_scopes) > 0 ? var.cognito_authorization_scopes : null

  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    ip                 = "$context.identity.sourceIp"
    apiKeyId           = "$context.identity.apiKeyId"
    caller             = "$context.identity.caller"
    user               = "$context.authorizer.claims.sub"
    wafResponse        = "$context.wafResponseCode"
    requestTime        = "$context.requestTime"
    httpMethod         = "$context.httpMethod"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    responseLength     = "$context.responseLength"
    responseLatency    = "$context.responseLatency"
    integrationLatency = "$context.integration.latency"
    integrationStatus  = "$context.integration.status"
    errorMessage       = "$context.error.message"
  })
}

module "store" {
  source = "../store_access"

  model_store_uri = var.model_store_uri
  kms_key_arn     = var.model_kms_key_arn
}

# --- logs -----------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# --- the function ---------------------------------------------------------------------------------------------------

resource "aws_iam_role" "this" {
  name = "${var.name}-lambda"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-lambda"
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function reaches only S3, SageMaker and CloudWatch APIs; a VPC would add NAT cost and cold-start latency and protect nothing here.
  #checkov:skip=CKV_AWS_116:A dead-letter queue applies to asynchronous invocations; API Gateway invokes synchronously and returns errors to the client.
  #checkov:skip=CKV_AWS_272:Code signing applies to .zip packages; this function is a container image pinned by ECR URI (tag or digest) from an immutable-tag repository.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (store URI, model name, backend, and a SHA-256 digest of the API key), and Lambda encrypts it at rest with its own key.
  function_name                  = var.name
  description                    = "Treeport: ${var.model_name} (${var.backend} backend)"
  role                           = aws_iam_role.this.arn
  package_type                   = "Image"
  image_uri                      = var.image_uri
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  publish                        = true
  tags                           = var.tags

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.lambda]
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  description      = "The version API Gateway invokes (moved by treeport deploy serverless rollout/rollback)"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  # Created on the first published version; after that `treeport deploy serverless apply|rollout|rollback` moves
  # it (at once, or through a weighted canary watched by alarms), so a new version is not served the moment it is
  # published. Terraform state still records where it points (refresh reads it back).
  lifecycle {
    ignore_changes = [function_version, routing_config, description]
  }
}

resource "aws_lambda_provisioned_concurrency_config" "this" {
  count = var.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_alias.live.function_name
  qualifier                         = aws_lambda_alias.live.name
  provisioned_concurrent_executions = var.provisioned_concurrency
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGatewayStage"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  qualifier     = aws_lambda_alias.live.name
  principal     = "apigateway.amazonaws.com"
  # This API's stage only: any method on any path.
  source_arn = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/*/*"
}

# --- the REST API ---------------------------------------------------------------------------------------------------

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "Treeport: ${var.model_name}"
  tags        = var.tags
  # Arrow IPC bodies are binary: API Gateway hands them to the function base64-encoded (apig-wsgi decodes them) and
  # decodes the function's base64 Arrow answer for a client that accepts it; without this it would mangle both.
  binary_media_types = ["application/vnd.apache.arrow.stream"]

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "predict" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "predict"
}

resource "aws_api_gateway_resource" "proxy" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "{proxy+}"
}

# Who may call: the caller's identity (SigV4-signed IAM principal, or a Cognito user pool token) on every method, as
# authorization chooses. The API key stays required in every mode: it picks the usage plan (throttle and quota per
# client); AWS documents keys for metering, not as the authentication.
resource "aws_api_gateway_authorizer" "cognito" {
  count = var.authorization == "cognito" ? 1 : 0

  name            = "${var.name}-cognito"
  rest_api_id     = aws_api_gateway_rest_api.this.id
  type            = "COGNITO_USER_POOLS"
  provider_arns   = var.cognito_user_pool_arns
  identity_source = "method.request.header.Authorization"
}

resource "aws_api_gateway_method" "predict" {
  #checkov:skip=CKV2_AWS_53:The app validates every body against the model's schema and answers field-level 422s; a gateway model would repeat that with less detail.
  #checkov:skip=CKV_AWS_59:authorization = "api_key" (the default) leaves authorization NONE with the API key required and the key's digest checked again in the app; "iam" and "cognito" authenticate the caller at the gateway.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = aws_api_gateway_resource.predict.id
  http_method          = "POST"
  authorization        = local.method_authorization
  authorizer_id        = local.authorizer_id
  authorization_scopes = local.authorization_scopes
  api_key_required     = true
}

resource "aws_api_gateway_method" "proxy" {
  #checkov:skip=CKV2_AWS_53:The app validates every body against the model's schema and answers field-level 422s; a gateway model would repeat that with less detail.
  #checkov:skip=CKV_AWS_59:authorization = "api_key" (the default) leaves authorization NONE with the API key required and the key's digest checked again in the app; "iam" and "cognito" authenticate the caller at the gateway.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = aws_api_gateway_resource.proxy.id
  http_method          = "ANY"
  authorization        = local.method_authorization
  authorizer_id        = local.authorizer_id
  authorization_scopes = local.authorization_scopes
  api_key_required     = true
}

resource "aws_api_gateway_integration" "predict" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.predict.id
  http_method             = aws_api_gateway_method.predict.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_alias.live.invoke_arn
}

resource "aws_api_gateway_integration" "proxy" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.proxy.id
  http_method             = aws_api_gateway_method.proxy.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_alias.live.invoke_arn
}

# API Gateway's own refusals in the app's error shape, with the app's status codes.
resource "aws_api_gateway_gateway_response" "this" {
  for_each = {
    INVALID_API_KEY = { status = "401", code = "unauthorized", message = "missing or invalid API key" }
    UNAUTHORIZED    = { status = "401", code = "unauthorized", message = "missing or invalid token" }
    ACCESS_DENIED   = { status = "403", code = "forbidden", message = "these credentials may not call this API" }
    # IAM mode: a request without a SigV4 signature (and any path outside the API's routes).
    MISSING_AUTHENTICATION_TOKEN = { status = "403", code = "forbidden", message = "missing request signature or unknown route" }
    WAF_FILTERED                 = { status = "403", code = "forbidden", message = "request blocked by the web application firewall" }
    THROTTLED                    = { status = "429", code = "too_many_requests", message = "request rate above the limit; retry later" }
    QUOTA_EXCEEDED               = { status = "429", code = "quota_exceeded", message = "this API key's quota is used up for the period" }
  }

  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  status_code   = each.value.status
  response_templates = {
    "application/json" = jsonencode({ error = { code = each.value.code, message = each.value.message, details = [] } })
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  triggers = {
    # What a deployment snapshots, attribute by attribute: hashing whole resources would redeploy whenever a
    # refresh fills in an empty attribute.
    redeployment = sha1(jsonencode({
      resources = [aws_api_gateway_resource.predict.id, aws_api_gateway_resource.proxy.id]
      methods   = [for m in [aws_api_gateway_method.predict, aws_api_gateway_method.proxy] : [m.id, m.authorization, m.api_key_required]]
      # Who may call, as configured (read back, an unset authorizer or scope list may come back empty instead of null).
      authorizers  = [local.method_authorization, local.authorization_scopes, [for a in aws_api_gateway_authorizer.cognito : [a.id, sort(var.cognito_user_pool_arns)]]]
      integrations = [for i in [aws_api_gateway_integration.predict, aws_api_gateway_integration.proxy] : [i.id, i.type, i.uri]]
      responses    = { for k, r in aws_api_gateway_gateway_response.this : k => [r.status_code, r.response_templates] }
    }))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "api_gateway_logs" {
  count = var.manage_api_gateway_account ? 1 : 0

  name = "${var.name}-apigw-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "api_gateway_logs" {
  count = var.manage_api_gateway_account ? 1 : 0

  name = "${var.name}-apigw-logs"
  role = aws_iam_role.api_gateway_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "WriteThisApisLogs"
        Effect = "Allow"
        Action = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
        Resource = [
          aws_cloudwatch_log_group.access.arn,
          "${aws_cloudwatch_log_group.access.arn}:log-stream:*",
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}",
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}:log-stream:*",
        ]
      },
      {
        Sid      = "FindLogGroups"
        Effect   = "Allow"
        Action   = ["logs:DescribeLogGroups"]
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
      },
    ]
  })
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_logs[0].arn
  depends_on          = [aws_iam_role_policy.api_gateway_logs]
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Responses are per-request predictions on POST bodies; a cache keyed on the path would serve one client's answer to another.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; the backend here is a Lambda proxy integration invoked through IAM.
  #checkov:skip=CKV2_AWS_77:The web ACL has the known-bad-inputs group (Log4j; CKV_AWS_192 passes); this check also demands AWSManagedRulesAnonymousIpList, whose HostingProviderIPList blocks callers on cloud hosts, the usual clients of a prediction API.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.tracing_enabled
  tags                 = var.tags

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  depends_on = [aws_api_gateway_account.this]
}

# --- the web application firewall (WAFv2, regional) ----------------------------------------------------------------

# In front of the stage: AWS's managed common rules (OWASP-style body, header and URI checks) and known bad inputs
# (Log4Shell and similar), then a per-client-IP rate limit. Its requests and blocks are CloudWatch metrics, sampled
# requests, and a log group of its own.
locals {
  waf_metric_prefix = var.name
}

resource "aws_wafv2_web_acl" "this" {
  count = var.waf_enabled ? 1 : 0

  name        = var.name
  description = "Treeport ${var.name}: AWS managed common rules and known bad inputs, and a per-IP rate limit"
  scope       = "REGIONAL"
  tags        = var.tags

  default_action {
    allow {}
  }

  # Written out, not generated: checkov reads the known-bad-inputs group (Log4Shell) only from a literal rule block.
  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        # SizeRestrictions_BODY blocks every body over 8 KB: batch predictions are bigger; the app enforces its own
        # body and row limits (TREEPORT_MAX_BODY_BYTES, TREEPORT_MAX_ROWS).
        dynamic "rule_action_override" {
          for_each = var.waf_common_rules_to_count
          content {
            name = rule_action_override.value
            action_to_use {
              count {}
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.waf_metric_prefix}-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.waf_metric_prefix}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "RatePerClientIp"
    priority = 30

    action {
      block {}
    }

    statement {
      rate_based_statement {
        aggregate_key_type    = "IP"
        limit                 = var.waf_rate_limit
        evaluation_window_sec = var.waf_rate_window_seconds
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.waf_metric_prefix}-rate-per-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.waf_metric_prefix
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.waf_enabled ? 1 : 0

  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this[0].arn
}

# WAF writes only to destinations named aws-waf-logs-*.
resource "aws_cloudwatch_log_group" "waf" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  count = var.waf_enabled ? 1 : 0

  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count = var.waf_enabled ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  # Credentials never reach the log: the API key, and the bearer token or SigV4 signature.
  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}

resource "aws_api_gateway_method_settings" "this" {
  #checkov:skip=CKV_AWS_225:Caching stays off for per-request predictions (see the stage).
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
    metrics_enabled        = true
    logging_level          = "ERROR"
    # Request and response bodies hold applicants' data: never copy them into execution logs.
    data_trace_enabled = false
  }
}

resource "aws_api_gateway_api_key" "this" {
  name        = "${var.name}-default"
  description = "Default key of the ${var.name} usage plan"
  enabled     = true
  tags        = var.tags
}

resource "aws_api_gateway_usage_plan" "this" {
  name        = var.name
  description = "Throttle and quota per API key"
  tags        = var.tags

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.throttle_rate_limit
    burst_limit = var.throttle_burst_limit
  }

  quota_settings {
    limit  = var.quota_limit
    period = var.quota_period
  }
}

resource "aws_api_gateway_usage_plan_key" "this" {
  key_id        = aws_api_gateway_api_key.this.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this.id
}

# --- alarms and the dashboard ---------------------------------------------------------------------------------------

# Every alarm notifies this topic (subscribe to it: e-mail, chat, paging); the canary of
# `treeport deploy serverless rollout` watches the ones in rollback_alarm_names and moves the alias back when one fires.
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

locals {
  api_dimensions    = { ApiName = aws_api_gateway_rest_api.this.name, Stage = var.stage_name }
  lambda_dimensions = { FunctionName = aws_lambda_function.this.function_name, Resource = "${aws_lambda_function.this.function_name}:${aws_lambda_alias.live.name}" }
  # 80% of the reserved concurrency, or of the account's default regional limit (1000) when none is reserved.
  concurrency_threshold = coalesce(var.alarm_thresholds.lambda_concurrency, floor(0.8 * (var.reserved_concurrency == -1 ? 1000 : var.reserved_concurrency)))
  # REST API 5XXError and 4XXError are 0 or 1 per request, so their Average is the error rate.
  alarms = {
    api-5xx-rate = {
      namespace   = "AWS/ApiGateway", metric = "5XXError", statistic = "Average", extended = null
      dimensions  = local.api_dimensions, threshold = var.alarm_thresholds.api_5xx_rate
      description = "Share of requests answered 5XX by API Gateway (the function failing or timing out)."
    }
    api-4xx-rate = {
      namespace   = "AWS/ApiGateway", metric = "4XXError", statistic = "Average", extended = null
      dimensions  = local.api_dimensions, threshold = var.alarm_thresholds.api_4xx_rate
      description = "Share of requests refused 4XX: throttled (429), over quota, without a valid key, or invalid input."
    }
    api-latency-p99 = {
      namespace   = "AWS/ApiGateway", metric = "Latency", statistic = null, extended = "p99"
      dimensions  = local.api_dimensions, threshold = var.alarm_thresholds.api_latency_p99_ms
      description = "p99 of API Gateway's latency in milliseconds, request in to response out."
    }
    lambda-errors = {
      namespace   = "AWS/Lambda", metric = "Errors", statistic = "Sum", extended = null
      dimensions  = local.lambda_dimensions, threshold = var.alarm_thresholds.lambda_errors
      description = "Invocations of the live alias that failed (an unhandled error or a timeout), per period."
    }
    lambda-duration-p99 = {
      namespace   = "AWS/Lambda", metric = "Duration", statistic = null, extended = "p99"
      dimensions  = local.lambda_dimensions, threshold = var.alarm_thresholds.lambda_duration_p99_ms
      description = "p99 of the live alias's invocation duration in milliseconds."
    }
    lambda-throttles = {
      namespace   = "AWS/Lambda", metric = "Throttles", statistic = "Sum", extended = null
      dimensions  = local.lambda_dimensions, threshold = var.alarm_thresholds.lambda_throttles
      description = "Invocations refused for lack of concurrency, per period."
    }
    lambda-concurrency = {
      namespace   = "AWS/Lambda", metric = "ConcurrentExecutions", statistic = "Maximum", extended = null
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }, threshold = local.concurrency_threshold
      description = "Concurrent executions of the function, near its reserved (or the account's) limit."
    }
  }
  # What a bad version shows within minutes; throttles and concurrency are about load, not the version.
  rollback_alarms = ["api-5xx-rate", "api-latency-p99", "lambda-errors", "lambda-duration-p99"]
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # No traffic is no evidence of a fault.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
  tags               = var.tags
}

locals {
  api_metric    = ["ApiName", aws_api_gateway_rest_api.this.name, "Stage", var.stage_name]
  lambda_metric = ["FunctionName", aws_lambda_function.this.function_name]
  dashboard_metrics = {
    "API requests and errors"               = [concat(["AWS/ApiGateway", "Count"], local.api_metric, [{ stat = "Sum" }]), concat(["AWS/ApiGateway", "5XXError"], local.api_metric, [{ stat = "Sum" }]), concat(["AWS/ApiGateway", "4XXError"], local.api_metric, [{ stat = "Sum" }])]
    "API latency p99 (ms)"                  = [concat(["AWS/ApiGateway", "Latency"], local.api_metric, [{ stat = "p99" }]), concat(["AWS/ApiGateway", "IntegrationLatency"], local.api_metric, [{ stat = "p99" }])]
    "Lambda invocations and failures"       = [concat(["AWS/Lambda", "Invocations"], local.lambda_metric, [{ stat = "Sum" }]), concat(["AWS/Lambda", "Errors"], local.lambda_metric, [{ stat = "Sum" }]), concat(["AWS/Lambda", "Throttles"], local.lambda_metric, [{ stat = "Sum" }])]
    "Lambda duration p99 (ms), concurrency" = [concat(["AWS/Lambda", "Duration"], local.lambda_metric, [{ stat = "p99" }]), concat(["AWS/Lambda", "ConcurrentExecutions"], local.lambda_metric, [{ stat = "Maximum", yAxis = "right" }])]
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = concat(
      [
        for i, title in keys(local.dashboard_metrics) : {
          type = "metric", x = (i % 2) * 12, y = floor(i / 2) * 6, width = 12, height = 6
          properties = {
            title   = title, region = data.aws_region.current.name, view = "timeSeries", period = var.alarm_period_seconds
            metrics = local.dashboard_metrics[title]
          }
        }
      ],
      [{
        type       = "alarm", x = 0, y = 12, width = 24, height = 4
        properties = { title = "Alarms", alarms = [for a in aws_cloudwatch_metric_alarm.this : a.arn] }
      }]
    )
  })
}
