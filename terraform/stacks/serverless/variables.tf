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
  description = "ECR image of the Lambda (lambda/Dockerfile), by tag or digest. Leave null on the first apply: it creates the bucket and the ECR repository, whose URL it prints, and nothing else."
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

variable "backend" {
  type        = string
  description = "local: the model runs in the Lambda. sagemaker: the Lambda validates and preprocesses, a SageMaker endpoint predicts."
  default     = "local"

  validation {
    condition     = contains(["local", "sagemaker"], var.backend)
    error_message = "backend must be local or sagemaker."
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
