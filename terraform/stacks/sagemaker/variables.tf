variable "region" {
  type        = string
  description = "AWS region to deploy into."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1 or eu-west-2."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (and of the bucket and ECR repositories)."
  default     = "treeport"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "image_uri" {
  type        = string
  description = "ECR image of the serving/training image (Dockerfile), by tag or digest. Leave null on the first apply: it creates the bucket and the ECR repository, whose URL it prints, and nothing else."
  default     = null

  validation {
    condition     = var.image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.image_uri))
    error_message = "image_uri must be an ECR image URI with a tag or a sha256 digest."
  }
}

variable "model_store_uri" {
  type        = string
  description = "Model store to serve from (s3://bucket/prefix) when it lives in a bucket made elsewhere; null creates a bucket and uses s3://<bucket>/models."
  default     = null

  validation {
    condition     = var.model_store_uri == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^*?]*)?$", var.model_store_uri))
    error_message = "model_store_uri must be s3://bucket or s3://bucket/prefix (no wildcards)."
  }
}

variable "model_kms_key_arn" {
  type        = string
  description = "KMS key of the bucket named by model_store_uri, if its objects use SSE-KMS (ignored when this stack creates the bucket)."
  default     = null

  validation {
    condition     = var.model_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.model_kms_key_arn))
    error_message = "model_kms_key_arn must be a KMS key ARN."
  }
}

variable "model_name" {
  type        = string
  description = "Model to serve (TREEPORT_MODEL_NAME)."
  default     = "credit-risk"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", var.model_name))
    error_message = "model_name must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "model_version" {
  type        = string
  description = "Version to serve (TREEPORT_MODEL_VERSION): a version id, or LATEST to follow the promoted one."
  default     = "LATEST"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", var.model_version))
    error_message = "model_version must be LATEST or a version id (letters, digits, '.', '_', '-')."
  }
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

variable "force_destroy" {
  type        = bool
  description = "Let destroy delete the bucket and ECR repositories even when they hold models or images."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource, added to Project, Stack and ManagedBy."
  default     = {}
}

variable "aws_endpoint_url" {
  type        = string
  description = "Send every AWS API call to this URL (a local emulator such as moto_server) and skip the credential and account checks. Null for real AWS."
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http:// or https:// URL."
  }
}
