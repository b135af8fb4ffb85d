variable "name" {
  type        = string
  description = "Name of the endpoint; also names the model, the roles, the pipeline and the model package group."

  validation {
    condition     = can(regex("^[a-zA-Z](-?[a-zA-Z0-9]){2,45}$", var.name))
    error_message = "name must be 3-46 letters, digits and single hyphens, starting with a letter."
  }
}

variable "image_uri" {
  type        = string
  description = "ECR image of the serving/training image (the project's Dockerfile), by tag or digest. SageMaker runs it as `serve` for the endpoint and `train` for training jobs."

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an ECR image URI with a tag or a sha256 digest."
  }
}

variable "model_data_url" {
  type        = string
  description = "Optional model.tar.gz of a training job (e.g. a registered model package's); when set, the endpoint serves the bundle SageMaker unpacks into /opt/ml/model instead of reading the model store."
  default     = null

  validation {
    condition     = var.model_data_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3:// URI of a .tar.gz file."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the model bucket; the roles may decrypt with it, and it encrypts the endpoint's storage volume, captured data and the pipeline's outputs (null: AWS-managed keys)."
  default     = null
}

variable "endpoint_mode" {
  type        = string
  description = "realtime: instances of instance_type, always on, autoscaled between min_capacity and max_capacity. serverless: SageMaker Serverless Inference (serverless_* sizes), billed per request and scaled to zero when idle, with cold starts."
  default     = "realtime"

  validation {
    condition     = contains(["realtime", "serverless"], var.endpoint_mode)
    error_message = "endpoint_mode must be realtime or serverless."
  }

  # AWS's list of what Serverless Inference does not support includes data capture (and Model Monitor on it).
  validation {
    condition     = var.endpoint_mode == "realtime" || !var.data_capture_enabled
    error_message = "endpoint_mode = \"serverless\" cannot capture data: serverless endpoints do not support data capture; set data_capture_enabled = false or use realtime."
  }
}

variable "serverless_memory_mb" {
  type        = number
  description = "Memory of a serverless endpoint in MB, in AWS's 1 GB steps (1024 to 6144); its vCPUs grow with it."
  default     = 2048

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb must be 1024, 2048, 3072, 4096, 5120 or 6144 (1 to 6 GB in 1 GB steps)."
  }
}

variable "serverless_max_concurrency" {
  type        = number
  description = "Most concurrent invocations a serverless endpoint serves (1 to 200); requests beyond it are throttled."
  default     = 10

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200 && floor(var.serverless_max_concurrency) == var.serverless_max_concurrency
    error_message = "serverless_max_concurrency must be a whole number between 1 and 200."
  }
}

variable "serverless_provisioned_concurrency" {
  type        = number
  description = "Invocations a serverless endpoint keeps warm (no cold start for these, billed while provisioned); 0 for none. At most serverless_max_concurrency."
  default     = 0

  validation {
    condition     = var.serverless_provisioned_concurrency >= 0 && var.serverless_provisioned_concurrency <= var.serverless_max_concurrency && floor(var.serverless_provisioned_concurrency) == var.serverless_provisioned_concurrency
    error_message = "serverless_provisioned_concurrency must be a whole number from 0 to serverless_max_concurrency (AWS allows 1 to 200, never above the max concurrency)."
  }

  validation {
    condition     = var.serverless_provisioned_concurrency == 0 || var.endpoint_mode == "serverless"
    error_message = "serverless_provisioned_concurrency applies to endpoint_mode = \"serverless\" only."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of vpc_subnet_ids (scopes the role's network-interface permissions and hosts the S3 gateway endpoint); null: no VPC."
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "vpc_subnet_ids" {
  type        = list(string)
  description = "Private subnets the endpoint's containers run in (their only way out is this VPC's routes); empty: SageMaker's own network."
  default     = []

  validation {
    condition     = length(var.vpc_subnet_ids) <= 16 && alltrue([for s in var.vpc_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "vpc_subnet_ids must be 1 to 16 subnet ids (subnet-...)."
  }

  # AWS's list of what Serverless Inference does not support includes VPC configuration.
  validation {
    condition     = length(var.vpc_subnet_ids) == 0 || (var.endpoint_mode == "realtime" && var.vpc_id != null)
    error_message = "vpc_subnet_ids needs vpc_id, and endpoint_mode = \"realtime\" (serverless endpoints cannot run in a VPC)."
  }
}

variable "vpc_security_group_ids" {
  type        = list(string)
  description = "Security groups of the endpoint's containers in the VPC (1 to 5); they must allow HTTPS out to S3."
  default     = []

  validation {
    condition     = length(var.vpc_security_group_ids) <= 5 && alltrue([for g in var.vpc_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "vpc_security_group_ids must be at most 5 security group ids (sg-...)."
  }

  validation {
    condition     = (length(var.vpc_subnet_ids) == 0) == (length(var.vpc_security_group_ids) == 0)
    error_message = "vpc_subnet_ids and vpc_security_group_ids go together: give both or neither."
  }
}

variable "create_s3_gateway_endpoint" {
  type        = bool
  description = "Create an S3 gateway endpoint in vpc_id on vpc_route_table_ids, admitting the model bucket only, so containers in private subnets reach S3 without NAT."
  default     = false
}

variable "vpc_route_table_ids" {
  type        = list(string)
  description = "Route tables of vpc_subnet_ids that the S3 gateway endpoint is added to."
  default     = []

  validation {
    condition     = alltrue([for r in var.vpc_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "vpc_route_table_ids must be route table ids (rtb-...)."
  }

  validation {
    condition     = !var.create_s3_gateway_endpoint || (length(var.vpc_route_table_ids) > 0 && var.vpc_id != null)
    error_message = "create_s3_gateway_endpoint needs vpc_id and the subnets' vpc_route_table_ids."
  }
}

variable "instance_type" {
  type        = string
  description = "Endpoint instance type (endpoint_mode = \"realtime\"): a 4th-gen Xeon (Sapphire Rapids: AVX-512 and AMX) family, ml.c7i, ml.m7i or ml.r7i."
  default     = "ml.c7i.large"

  validation {
    condition     = can(regex("^ml\\.(c7i|m7i|r7i)\\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$", var.instance_type))
    error_message = "instance_type must be a 4th-gen Xeon SageMaker instance type: ml.c7i.*, ml.m7i.* or ml.r7i.* (e.g. ml.c7i.large)."
  }
}

variable "initial_instance_count" {
  type        = number
  description = "Instances the endpoint starts with (autoscaling moves it between min_capacity and max_capacity)."
  default     = 1

  validation {
    condition     = var.initial_instance_count >= 1 && var.initial_instance_count <= 20 && floor(var.initial_instance_count) == var.initial_instance_count
    error_message = "initial_instance_count must be a whole number between 1 and 20."
  }
}

variable "min_capacity" {
  type        = number
  description = "Fewest instances autoscaling keeps."
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number of at least 1."
  }
}

variable "max_capacity" {
  type        = number
  description = "Most instances autoscaling adds."
  default     = 4

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= 100 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between min_capacity and 100."
  }
}

variable "target_invocations_per_instance" {
  type        = number
  description = "Autoscaling target: invocations per instance per minute (SageMakerVariantInvocationsPerInstance)."
  default     = 3000

  validation {
    condition     = var.target_invocations_per_instance > 0
    error_message = "target_invocations_per_instance must be positive."
  }
}

variable "scale_in_cooldown" {
  type        = number
  description = "Seconds after a scale-in before another scale-in."
  default     = 300

  validation {
    condition     = var.scale_in_cooldown >= 0 && var.scale_in_cooldown <= 3600
    error_message = "scale_in_cooldown must be between 0 and 3600 seconds."
  }
}

variable "scale_out_cooldown" {
  type        = number
  description = "Seconds after a scale-out before another scale-out."
  default     = 60

  validation {
    condition     = var.scale_out_cooldown >= 0 && var.scale_out_cooldown <= 3600
    error_message = "scale_out_cooldown must be between 0 and 3600 seconds."
  }
}

variable "data_capture_enabled" {
  type        = bool
  description = "Capture endpoint requests and responses to S3 (for monitoring and retraining; mind the personal data it holds)."
  default     = false
}

variable "data_capture_percentage" {
  type        = number
  description = "Percentage of requests captured when data capture is on."
  default     = 100

  validation {
    condition     = var.data_capture_percentage >= 1 && var.data_capture_percentage <= 100 && floor(var.data_capture_percentage) == var.data_capture_percentage
    error_message = "data_capture_percentage must be a whole number between 1 and 100."
  }
}

variable "create_pipeline" {
  type        = bool
  description = "Create the training pipeline (train -> evaluate -> gate -> register) and its model package group."
  default     = true
}

variable "training_instance_type" {
  type        = string
  description = "Instance type of the pipeline's training and evaluation jobs (4th-gen Xeon)."
  default     = "ml.m7i.xlarge"

  validation {
    condition     = can(regex("^ml\\.(c7i|m7i|r7i)\\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$", var.training_instance_type))
    error_message = "training_instance_type must be ml.c7i.*, ml.m7i.* or ml.r7i.*."
  }
}

variable "training_volume_gb" {
  type        = number
  description = "Storage volume of each training and evaluation instance, in GB."
  default     = 30

  validation {
    condition     = var.training_volume_gb >= 1 && var.training_volume_gb <= 16384 && floor(var.training_volume_gb) == var.training_volume_gb
    error_message = "training_volume_gb must be a whole number between 1 and 16384."
  }
}

variable "training_max_runtime_seconds" {
  type        = number
  description = "Longest a training job may run before SageMaker stops it."
  default     = 86400

  validation {
    condition     = var.training_max_runtime_seconds >= 60 && var.training_max_runtime_seconds <= 2419200
    error_message = "training_max_runtime_seconds must be between 60 and 2419200 (28 days)."
  }
}

variable "hyperparameters" {
  type        = map(string)
  description = "Hyperparameters of the training job (all strings, as SageMaker passes them to the image's `train`), e.g. { target = \"loan_status\", max_depth = \"6\" }. The gate is not among them: gate_metric and gate_threshold set it."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.hyperparameters) : !startswith(k, "gate_") && k != "default_gate"])
    error_message = "hyperparameters must not set gate_<metric> or default_gate: the pipeline passes its own gate (gate_metric, gate_threshold) to the training job."
  }
}

variable "gate_metric" {
  type        = string
  description = "Test metric the pipeline's condition step checks before registering a model."
  default     = "auc"

  validation {
    condition     = contains(local.test_metrics, var.gate_metric)
    error_message = "gate_metric must be one of ${join(", ", local.test_metrics)}."
  }
}

variable "gate_threshold" {
  type        = number
  description = "Threshold of gate_metric: at least this for scores (auc, accuracy...), at most this for losses (logloss, brier, rmse, mae)."
  default     = 0.6
}

variable "model_approval_status" {
  type        = string
  description = "Approval status of the model packages the pipeline registers."
  default     = "PendingManualApproval"

  validation {
    condition     = contains(["PendingManualApproval", "Approved"], var.model_approval_status)
    error_message = "model_approval_status must be PendingManualApproval or Approved."
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
  description = "How a new endpoint configuration (model version, image, size) replaces the old one, blue/green (realtime endpoints only): traffic CANARY (size, then the rest), LINEAR (steps of size) or ALL_AT_ONCE; size_type INSTANCE_COUNT or CAPACITY_PERCENT; wait_seconds between steps (the baking time under the alarms); termination_wait_seconds the old fleet is kept after the shift; timeout_seconds for the whole deployment. An alarm of rollback_alarm_names firing meanwhile rolls it back. Null: a one-instance canary when initial_instance_count >= 2, else all at once, baked 300 s."
  default     = null

  validation {
    condition     = var.rollout == null || (contains(["CANARY", "LINEAR", "ALL_AT_ONCE"], try(var.rollout.traffic, "")) && contains(["INSTANCE_COUNT", "CAPACITY_PERCENT"], try(var.rollout.size_type, "")))
    error_message = "rollout.traffic must be CANARY, LINEAR or ALL_AT_ONCE, and rollout.size_type INSTANCE_COUNT or CAPACITY_PERCENT."
  }

  validation {
    condition = var.rollout == null || (
      try(var.rollout.wait_seconds >= 0 && var.rollout.wait_seconds <= 3600 && floor(var.rollout.wait_seconds) == var.rollout.wait_seconds, false)
      && try(var.rollout.termination_wait_seconds >= 0 && var.rollout.termination_wait_seconds <= 3600 && floor(var.rollout.termination_wait_seconds) == var.rollout.termination_wait_seconds, false)
      && try(var.rollout.timeout_seconds >= 600 && var.rollout.timeout_seconds <= 28800 && floor(var.rollout.timeout_seconds) == var.rollout.timeout_seconds, false)
    )
    error_message = "rollout: wait_seconds and termination_wait_seconds must be whole seconds from 0 to 3600, timeout_seconds from 600 to 28800 (SageMaker's ranges)."
  }

  # SageMaker: a canary is at most half the fleet; a linear step 10% to 50% of it.
  validation {
    condition = var.rollout == null || try(
      var.rollout.traffic == "ALL_AT_ONCE" || (
        var.initial_instance_count >= 2 && (
          var.rollout.traffic == "CANARY" ? (
            var.rollout.size_type == "CAPACITY_PERCENT" ? var.rollout.size > 0 && var.rollout.size <= 50 : var.rollout.size >= 1 && floor(var.rollout.size) == var.rollout.size && var.rollout.size * 2 <= var.initial_instance_count
            ) : (
            var.rollout.size_type == "CAPACITY_PERCENT" ? var.rollout.size >= 10 && var.rollout.size <= 50 : var.rollout.size >= 1 && floor(var.rollout.size) == var.rollout.size && var.rollout.size * 10 >= var.initial_instance_count && var.rollout.size * 2 <= var.initial_instance_count
          )
        )
      ), false
    )
    error_message = "rollout: CANARY and LINEAR need initial_instance_count >= 2; a canary is at most half the fleet (CAPACITY_PERCENT in (0, 50], or at most initial_instance_count / 2 instances); a linear step is 10% to 50% of it (CAPACITY_PERCENT 10 to 50, or that share of initial_instance_count in whole instances)."
  }

  # SageMaker: the timeout must be larger than the waits it covers.
  validation {
    condition = var.rollout == null || try(
      var.rollout.timeout_seconds > var.rollout.termination_wait_seconds + var.rollout.wait_seconds * (
        var.rollout.traffic != "LINEAR" ? 1 : ceil(var.rollout.size_type == "CAPACITY_PERCENT" ? 100 / var.rollout.size : var.initial_instance_count / var.rollout.size)
      ), false
    )
    error_message = "rollout.timeout_seconds must be larger than every wait of the deployment: wait_seconds once per step (one step for CANARY and ALL_AT_ONCE) plus termination_wait_seconds."
  }

  validation {
    condition     = var.rollout == null || var.endpoint_mode == "realtime"
    error_message = "rollout applies to endpoint_mode = \"realtime\": SageMaker's deployment guardrails shift traffic between instance fleets, and a serverless endpoint has none (SageMaker's own default, all at once, applies there)."
  }
}

variable "alarm_thresholds" {
  type = object({
    invocation_5xx_errors   = optional(number, 5)
    model_latency_p99_ms    = optional(number, 250)
    cpu_utilization_percent = optional(number, 80)
  })
  description = "When each alarm fires, per period: Invocation5XXErrors as a count, the p99 of ModelLatency in milliseconds (the alarm compares microseconds, as SageMaker publishes it), and CPUUtilization as the average share of each vCPU in percent (realtime only; the alarm multiplies it by the instance's vCPUs, as SageMaker sums them)."
  default     = {}

  validation {
    condition = (
      var.alarm_thresholds.invocation_5xx_errors >= 1
      && var.alarm_thresholds.model_latency_p99_ms > 0 && var.alarm_thresholds.model_latency_p99_ms <= 60000
      && var.alarm_thresholds.cpu_utilization_percent > 0 && var.alarm_thresholds.cpu_utilization_percent <= 100
    )
    error_message = "alarm_thresholds: invocation_5xx_errors is a count of at least 1, model_latency_p99_ms in (0, 60000] (SageMaker's 60 s invocation limit), cpu_utilization_percent in (0, 100]."
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
