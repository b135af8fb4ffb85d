variable "endpoint_mode" {
  type        = string
  description = "realtime (instances of instance_type, always on, autoscaled) or serverless (SageMaker Serverless Inference: billed per request, scaled to zero, cold starts). README says when each is the cheaper one."
  default     = "realtime"

  validation {
    condition     = contains(["realtime", "serverless"], var.endpoint_mode)
    error_message = "endpoint_mode must be realtime or serverless."
  }
}

variable "serverless_memory_mb" {
  type        = number
  description = "Memory of the serverless endpoint in MB: 1024 to 6144 in 1 GB steps (checked by the sagemaker module)."
  default     = 2048
}

variable "serverless_max_concurrency" {
  type        = number
  description = "Most concurrent invocations of the serverless endpoint, 1 to 200 (checked by the sagemaker module)."
  default     = 10
}

variable "serverless_provisioned_concurrency" {
  type        = number
  description = "Invocations the serverless endpoint keeps warm, 0 (none) to serverless_max_concurrency (checked by the sagemaker module)."
  default     = 0
}

variable "vpc" {
  type = object({
    id                         = string
    subnet_ids                 = list(string)
    security_group_ids         = list(string)
    create_s3_gateway_endpoint = optional(bool, false)
    route_table_ids            = optional(list(string), [])
  })
  description = "Run the endpoint's containers in your VPC: its id, private subnets, security groups (HTTPS out to S3), and optionally an S3 gateway endpoint on the subnets' route tables (admitting the model bucket only). Null (the default): SageMaker's own network. Checked by the sagemaker module; realtime endpoints only."
  default     = null
}

variable "instance_type" {
  type        = string
  description = "Endpoint instance type (4th-gen Xeon: ml.c7i.*, ml.m7i.*, ml.r7i.*)."
  default     = "ml.c7i.large"

  validation {
    condition     = can(regex("^ml\\.(c7i|m7i|r7i)\\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$", var.instance_type))
    error_message = "instance_type must be ml.c7i.*, ml.m7i.* or ml.r7i.* (e.g. ml.c7i.large)."
  }
}

variable "min_capacity" {
  type        = number
  description = "Fewest endpoint instances (also the initial count)."
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && var.min_capacity <= 20
    error_message = "min_capacity must be between 1 and 20."
  }
}

variable "max_capacity" {
  type        = number
  description = "Most endpoint instances autoscaling adds."
  default     = 4

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= 100
    error_message = "max_capacity must be between min_capacity and 100."
  }
}

variable "data_capture_enabled" {
  type        = bool
  description = "Capture endpoint requests and responses to the bucket (they hold applicants' data)."
  default     = false
}

variable "create_pipeline" {
  type        = bool
  description = "Create the training pipeline (train -> evaluate -> gate -> register)."
  default     = true
}

variable "training_instance_type" {
  type        = string
  description = "Instance type of the pipeline's jobs (4th-gen Xeon)."
  default     = "ml.m7i.xlarge"

  validation {
    condition     = can(regex("^ml\\.(c7i|m7i|r7i)\\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$", var.training_instance_type))
    error_message = "training_instance_type must be ml.c7i.*, ml.m7i.* or ml.r7i.*."
  }
}

variable "hyperparameters" {
  type        = map(string)
  description = "Hyperparameters of the pipeline's training job (strings), e.g. { target = \"loan_status\" }."
  default     = {}
}

variable "gate_metric" {
  type        = string
  description = "Test metric the pipeline gates on before registering a model."
  default     = "auc"

  validation {
    condition     = contains(["auc", "pr_auc", "accuracy", "logloss", "brier", "macro_f1", "rmse", "mae", "r2"], var.gate_metric)
    error_message = "gate_metric must be one of auc, pr_auc, accuracy, logloss, brier, macro_f1, rmse, mae, r2."
  }
}

variable "gate_threshold" {
  type        = number
  description = "Threshold of gate_metric (at least this for scores, at most this for losses)."
  default     = 0.6
}

variable "model_data_url" {
  type        = string
  description = "Serve this model.tar.gz (a registered model package's ModelDataUrl; `treeport deploy sagemaker apply --model-package ARN` sets it) instead of model_version from the store. A new value is a new model version: it reaches the endpoint through the rollout's blue/green deployment. Null: the store's model_version."
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3:// URI of a .tar.gz file."
  }
}

variable "rollout" {
  type = object({
    traffic                  = optional(string, "CANARY")
    size_type                = optional(string, "INSTANCE_COUNT")
    size                     = optional(number, 1)
    wait_seconds             = optional(number, 300)
    termination_wait_seconds = optional(number, 0)
    timeout_seconds          = optional(number, 3600)
  })
  description = "Blue/green deployment of a new model version or image (realtime endpoints): traffic CANARY, LINEAR or ALL_AT_ONCE, size and size_type (INSTANCE_COUNT or CAPACITY_PERCENT), wait_seconds of baking per step, termination_wait_seconds, timeout_seconds; rolled back when a rollback alarm fires. Null: a one-instance canary when min_capacity >= 2, else all at once, baked 300 s. Checked by the sagemaker module."
  default     = null
}

variable "alarm_thresholds" {
  type = object({
    invocation_5xx_errors   = optional(number, 5)
    model_latency_p99_ms    = optional(number, 250)
    cpu_utilization_percent = optional(number, 80)
  })
  description = "When each endpoint alarm fires, per 60 s period (2 running): Invocation5XXErrors count, ModelLatency p99 in ms, CPUUtilization as the average share of each vCPU in percent. Checked by the sagemaker module."
  default     = {}
}
