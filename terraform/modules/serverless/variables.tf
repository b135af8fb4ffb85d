variable "name" {
  type        = string
  description = "Name of the Lambda function; also names the REST API, the role, the usage plan and the log groups."

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{2,50}$", var.name))
    error_message = "name must be 3-51 letters, digits and hyphens, starting with a letter."
  }
}

variable "image_uri" {
  type        = string
  description = "ECR image of the Lambda (lambda/Dockerfile), by tag or digest: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an ECR image URI with a tag or a sha256 digest (Lambda runs images from ECR only)."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set of the image: x86_64 (Intel Xeon, where daal4py is fastest) or arm64 (Graviton; with backend = \"sagemaker\" only)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }

  # The local backend runs daal4py (oneDAL) in the function, and oneDAL is built for x86-64 only.
  validation {
    condition     = var.architecture == "x86_64" || var.backend != "local"
    error_message = "architecture = \"arm64\" needs backend = \"sagemaker\": the local backend's daal4py runs on x86_64 only."
  }
}

variable "memory_size" {
  type        = number
  description = "Lambda memory in MiB; CPU share grows with it (1769 MiB is one full vCPU)."
  default     = 2048

  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MiB between 512 and 10240."
  }
}

variable "timeout" {
  type        = number
  description = "Lambda timeout in seconds. API Gateway gives up after 29 s whatever this says."
  default     = 30

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 3 and 900."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Concurrent executions reserved for (and capping) the function; -1 leaves it unreserved and uncapped."
  default     = 50

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency)
    error_message = "reserved_concurrency must be -1 (unreserved) or a whole number of at least 1."
  }
}

variable "provisioned_concurrency" {
  type        = number
  description = "Pre-initialised execution environments on the live alias (no cold starts for these); 0 for none."
  default     = 0

  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number, 0 or more."
  }
}

variable "model_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the model store's objects; the role gets kms:Decrypt on it (null: SSE-S3 or none)."
  default     = null
}

variable "backend" {
  type        = string
  description = "Where predictions are computed (TREEPORT_BACKEND): local (the model in the Lambda) or sagemaker (validated and preprocessed in the Lambda, predicted by a SageMaker endpoint)."
  default     = "local"

  validation {
    condition     = contains(["local", "sagemaker"], var.backend)
    error_message = "backend must be local or sagemaker."
  }

  validation {
    condition     = var.backend != "sagemaker" || var.sagemaker_endpoint_name != null
    error_message = "backend = \"sagemaker\" needs sagemaker_endpoint_name."
  }
}

variable "sagemaker_endpoint_name" {
  type        = string
  description = "SageMaker endpoint the sagemaker backend invokes (TREEPORT_SAGEMAKER_ENDPOINT); the role may invoke this endpoint only."
  default     = null

  validation {
    condition     = var.sagemaker_endpoint_name == null || can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.sagemaker_endpoint_name))
    error_message = "sagemaker_endpoint_name must be a SageMaker endpoint name: up to 63 letters, digits and hyphens."
  }
}

variable "environment" {
  type        = map(string)
  description = "Extra environment variables for the function (e.g. TREEPORT_MAX_ROWS); the TREEPORT_MODEL_* and backend variables are set from the other inputs."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !contains(["TREEPORT_MODEL_STORE", "TREEPORT_MODEL_NAME", "TREEPORT_MODEL_VERSION", "TREEPORT_BACKEND", "TREEPORT_SAGEMAKER_ENDPOINT", "TREEPORT_API_KEYS"], k)])
    error_message = "environment must not set the variables this module derives from its inputs (TREEPORT_MODEL_*, TREEPORT_BACKEND, TREEPORT_SAGEMAKER_ENDPOINT, TREEPORT_API_KEYS)."
  }
}

variable "check_api_key_in_app" {
  type        = bool
  description = "Also give the app the SHA-256 of the API key (TREEPORT_API_KEYS), so a request that reaches the function some other way is refused too."
  default     = true
}

variable "stage_name" {
  type        = string
  description = "API Gateway stage; the API is served under https://<id>.execute-api.<region>.amazonaws.com/<stage_name>/."
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,64}$", var.stage_name))
    error_message = "stage_name must be 1-64 letters, digits or underscores."
  }
}

variable "throttle_rate_limit" {
  type        = number
  description = "Steady-state requests per second allowed on every method of the stage, and per API key."
  default     = 50

  validation {
    condition     = var.throttle_rate_limit > 0 && var.throttle_rate_limit <= 10000
    error_message = "throttle_rate_limit must be above 0 and at most 10000 requests per second."
  }
}

variable "throttle_burst_limit" {
  type        = number
  description = "Burst of requests allowed above the rate limit, on every method and per API key."
  default     = 100

  validation {
    condition     = var.throttle_burst_limit >= 1 && var.throttle_burst_limit <= 5000 && floor(var.throttle_burst_limit) == var.throttle_burst_limit
    error_message = "throttle_burst_limit must be a whole number between 1 and 5000."
  }
}

variable "quota_limit" {
  type        = number
  description = "Requests one API key may make per quota_period."
  default     = 1000000

  validation {
    condition     = var.quota_limit >= 1 && floor(var.quota_limit) == var.quota_limit
    error_message = "quota_limit must be a whole number of at least 1."
  }
}

variable "quota_period" {
  type        = string
  description = "Period of the usage plan's quota: DAY, WEEK or MONTH."
  default     = "MONTH"

  validation {
    condition     = contains(["DAY", "WEEK", "MONTH"], var.quota_period)
    error_message = "quota_period must be DAY, WEEK or MONTH."
  }
}

variable "tracing_enabled" {
  type        = bool
  description = "X-Ray tracing on the stage and the function (Active); off leaves the function in PassThrough mode."
  default     = true
}

variable "manage_api_gateway_account" {
  type        = bool
  description = "Set the region's API Gateway account CloudWatch role (needed once per account and region for access logs). Turn off if something else manages it."
  default     = true
}

variable "alarm_thresholds" {
  type = object({
    api_5xx_rate           = optional(number, 0.01)
    api_4xx_rate           = optional(number, 0.1)
    api_latency_p99_ms     = optional(number, 2000)
    lambda_errors          = optional(number, 5)
    lambda_duration_p99_ms = optional(number, 2000)
    lambda_throttles       = optional(number, 1)
    lambda_concurrency     = optional(number)
  })
  description = "When each alarm fires, per period: API Gateway 5XX and 4XX (throttles included) as shares of requests (0-1), p99 latency and duration in ms, Lambda errors and throttles as counts, and concurrent executions (null: 80% of reserved_concurrency, or of 1000 when unreserved)."
  default     = {}

  validation {
    condition = (
      var.alarm_thresholds.api_5xx_rate > 0 && var.alarm_thresholds.api_5xx_rate <= 1
      && var.alarm_thresholds.api_4xx_rate > 0 && var.alarm_thresholds.api_4xx_rate <= 1
    )
    error_message = "alarm_thresholds.api_5xx_rate and api_4xx_rate are shares of requests: more than 0, at most 1."
  }

  validation {
    condition = (
      var.alarm_thresholds.api_latency_p99_ms > 0 && var.alarm_thresholds.api_latency_p99_ms <= 29000
      && var.alarm_thresholds.lambda_duration_p99_ms > 0 && var.alarm_thresholds.lambda_duration_p99_ms <= 900000
    )
    error_message = "alarm_thresholds latencies are milliseconds: api_latency_p99_ms in (0, 29000] (API Gateway's limit), lambda_duration_p99_ms in (0, 900000]."
  }

  validation {
    condition = (
      var.alarm_thresholds.lambda_errors >= 1 && var.alarm_thresholds.lambda_throttles >= 1
      && (var.alarm_thresholds.lambda_concurrency == null ? true : var.alarm_thresholds.lambda_concurrency >= 1)
    )
    error_message = "alarm_thresholds.lambda_errors, lambda_throttles and lambda_concurrency are counts of at least 1."
  }
}

variable "alarm_period_seconds" {
  type        = number
  description = "Length in seconds of the period each alarm evaluates (10, 30, or a multiple of 60)."
  default     = 60

  validation {
    condition     = contains([10, 30], var.alarm_period_seconds) || (var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0)
    error_message = "alarm_period_seconds must be 10, 30 or a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "Consecutive breaching periods before an alarm fires (each of them must breach)."
  default     = 2

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 10 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number from 1 to 10."
  }
}

variable "authorization" {
  type        = string
  description = "Who may call the API, checked by API Gateway on every method: api_key (the API key alone, as before), iam (SigV4-signed requests of IAM principals allowed execute-api:Invoke; authorization AWS_IAM) or cognito (JWTs of the Cognito user pools in cognito_user_pool_arns; a COGNITO_USER_POOLS authorizer). The API key is required in every mode: it selects the usage plan's throttle and quota."
  default     = "api_key"

  validation {
    condition     = contains(["api_key", "iam", "cognito"], var.authorization)
    error_message = "authorization must be api_key, iam or cognito."
  }

  validation {
    condition     = (var.authorization == "cognito") == (length(var.cognito_user_pool_arns) > 0)
    error_message = "authorization = \"cognito\" needs cognito_user_pool_arns, and cognito_user_pool_arns are for authorization = \"cognito\" only."
  }
}

variable "cognito_user_pool_arns" {
  type        = list(string)
  description = "Cognito user pools whose tokens the API accepts (authorization = \"cognito\"), sent as `Authorization: <token>`."
  default     = []

  validation {
    condition     = length(var.cognito_user_pool_arns) <= 1000 && alltrue([for a in var.cognito_user_pool_arns : can(regex("^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/[a-z0-9-]+_[A-Za-z0-9]+$", a))])
    error_message = "cognito_user_pool_arns must be Cognito user pool ARNs (arn:aws:cognito-idp:<region>:<account>:userpool/<region>_<id>)."
  }
}

variable "cognito_authorization_scopes" {
  type        = list(string)
  description = "OAuth scopes, one of which an access token must carry (authorization = \"cognito\"); empty: API Gateway takes the pool's ID tokens instead."
  default     = []

  validation {
    condition     = length(var.cognito_authorization_scopes) == 0 || var.authorization == "cognito"
    error_message = "cognito_authorization_scopes apply to authorization = \"cognito\" only."
  }
}

variable "waf_enabled" {
  type        = bool
  description = "Put a WAFv2 web ACL (regional) in front of the stage: AWS managed common rules and known bad inputs, and a per-IP rate limit, with metrics, sampled requests and a log group. Off: no web ACL (and no WAF cost)."
  default     = true
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may make in waf_rate_window_seconds before the web ACL blocks it (until its rate falls back under the limit)."
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000 && floor(var.waf_rate_limit) == var.waf_rate_limit
    error_message = "waf_rate_limit must be a whole number from 10 to 2000000000 (AWS WAF's range)."
  }
}

variable "waf_rate_window_seconds" {
  type        = number
  description = "Window over which waf_rate_limit counts a client's requests: 60, 120, 300 or 600 seconds."
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_window_seconds)
    error_message = "waf_rate_window_seconds must be 60, 120, 300 or 600 (AWS WAF's windows)."
  }
}

variable "waf_common_rules_to_count" {
  type        = list(string)
  description = "Rules of AWSManagedRulesCommonRuleSet that only count (are logged) instead of blocking. SizeRestrictions_BODY by default: it blocks every body over 8 KB, and batch predictions are bigger (the app enforces its own body and row limits)."
  default     = ["SizeRestrictions_BODY"]

  validation {
    condition     = alltrue([for r in var.waf_common_rules_to_count : can(regex("^[A-Za-z0-9_]{1,128}$", r))])
    error_message = "waf_common_rules_to_count must be rule names of the common rule set, such as SizeRestrictions_BODY or CrossSiteScripting_BODY."
  }
}
