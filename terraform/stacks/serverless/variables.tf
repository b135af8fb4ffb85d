variable "backend" {
  type        = string
  description = "local: the model runs in the Lambda. sagemaker: the Lambda validates and preprocesses, a SageMaker endpoint predicts."
  default     = "local"

  validation {
    condition     = contains(["local", "sagemaker"], var.backend)
    error_message = "backend must be local or sagemaker."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set of the Lambda image: x86_64 (Intel Xeon, where daal4py is fastest) or arm64 (Graviton), which the local backend cannot use."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }

  # Refused here too, not only in the module: the first apply (no image_uri) creates no function to check.
  validation {
    condition     = var.architecture == "x86_64" || var.backend != "local"
    error_message = "architecture = \"arm64\" needs backend = \"sagemaker\": the local backend's daal4py runs on x86_64 only."
  }
}

variable "sagemaker_endpoint_name" {
  type        = string
  description = "Endpoint of the sagemaker backend (the sagemaker stack's endpoint_name output)."
  default     = null

  validation {
    condition     = var.sagemaker_endpoint_name == null || can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.sagemaker_endpoint_name))
    error_message = "sagemaker_endpoint_name must be a SageMaker endpoint name."
  }
}

variable "memory_size" {
  type        = number
  description = "Lambda memory in MiB (CPU grows with it; 1769 MiB is one vCPU)."
  default     = 2048

  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size must be between 512 and 10240 MiB."
  }
}

variable "timeout" {
  type        = number
  description = "Lambda timeout in seconds."
  default     = 30

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 900
    error_message = "timeout must be between 3 and 900 seconds."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Concurrent executions reserved for and capping the function (-1: unreserved)."
  default     = 50

  validation {
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be -1 or at least 1."
  }
}

variable "provisioned_concurrency" {
  type        = number
  description = "Pre-initialised execution environments (no cold start for these); 0 for none."
  default     = 0

  validation {
    condition     = var.provisioned_concurrency >= 0
    error_message = "provisioned_concurrency must be 0 or more."
  }
}

variable "throttle_rate_limit" {
  type        = number
  description = "Requests per second allowed on each method of the API and per API key."
  default     = 50

  validation {
    condition     = var.throttle_rate_limit > 0 && var.throttle_rate_limit <= 10000
    error_message = "throttle_rate_limit must be above 0 and at most 10000."
  }
}

variable "throttle_burst_limit" {
  type        = number
  description = "Burst allowed above the rate limit."
  default     = 100

  validation {
    condition     = var.throttle_burst_limit >= 1 && var.throttle_burst_limit <= 5000
    error_message = "throttle_burst_limit must be between 1 and 5000."
  }
}

variable "quota_limit" {
  type        = number
  description = "Requests one API key may make per month."
  default     = 1000000

  validation {
    condition     = var.quota_limit >= 1
    error_message = "quota_limit must be at least 1."
  }
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

variable "authorization" {
  type        = string
  description = "Who may call the API: api_key (the key alone), iam (SigV4-signed requests of IAM principals allowed execute-api:Invoke on the invoke_arn_pattern output) or cognito (tokens of cognito_user_pool_arns). The API key stays required in every mode, for the usage plan's throttle and quota."
  default     = "api_key"

  validation {
    condition     = contains(["api_key", "iam", "cognito"], var.authorization)
    error_message = "authorization must be api_key, iam or cognito."
  }

  # Refused here too, not only in the module: the first apply (no image_uri) creates no API to check.
  validation {
    condition     = (var.authorization == "cognito") == (length(var.cognito_user_pool_arns) > 0)
    error_message = "authorization = \"cognito\" needs cognito_user_pool_arns, and cognito_user_pool_arns are for authorization = \"cognito\" only."
  }
}

variable "cognito_user_pool_arns" {
  type        = list(string)
  description = "Cognito user pools whose tokens the API accepts (authorization = \"cognito\"; checked by the serverless module)."
  default     = []
}

variable "cognito_authorization_scopes" {
  type        = list(string)
  description = "OAuth scopes one of which an access token must carry (authorization = \"cognito\"); empty: the pools' ID tokens."
  default     = []
}

variable "waf_enabled" {
  type        = bool
  description = "A WAFv2 web ACL in front of the API: AWS managed common rules, known bad inputs and a per-IP rate limit."
  default     = true
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may make per 5 minutes before the web ACL blocks it (10 or more; checked by the serverless module)."
  default     = 2000
}
