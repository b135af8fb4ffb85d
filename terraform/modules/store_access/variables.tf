variable "model_store_uri" {
  type        = string
  description = "Model store a role reads: s3://bucket or s3://bucket/prefix. The statements grant objects under that prefix only."

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^*?]*)?$", var.model_store_uri))
    error_message = "model_store_uri must be s3://bucket or s3://bucket/prefix (no wildcards)."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the store's objects; null (SSE-S3 or none) adds no KMS statement."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "kms_actions" {
  type        = list(string)
  description = "What the role may do with kms_key_arn: kms:Decrypt to read; add kms:GenerateDataKey where the role also writes encrypted objects."
  default     = ["kms:Decrypt"]

  validation {
    condition     = length(var.kms_actions) > 0 && alltrue([for a in var.kms_actions : contains(["kms:Decrypt", "kms:GenerateDataKey"], a)])
    error_message = "kms_actions must list kms:Decrypt and/or kms:GenerateDataKey (nothing broader)."
  }
}

variable "kms_via_services" {
  type        = list(string)
  description = "Services through which the key may be used (kms:ViaService, in this region), e.g. [\"s3\"] or [\"s3\", \"sagemaker\"]."
  default     = ["s3"]

  validation {
    condition     = length(var.kms_via_services) > 0 && alltrue([for s in var.kms_via_services : contains(["s3", "sagemaker"], s)])
    error_message = "kms_via_services must list s3 and/or sagemaker."
  }
}
