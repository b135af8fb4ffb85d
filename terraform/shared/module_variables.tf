# Inputs every serving module (serverless, sagemaker, eks) takes alike. Linked into each as shared_variables.tf.

variable "model_store_uri" {
  type        = string
  description = "Model store the target reads: s3://bucket or s3://bucket/prefix (no wildcards; checked by the store_access module). Its role may read objects under that prefix only."
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the log groups this module creates."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  type        = string
  description = "KMS key for the log groups (its key policy must allow logs.<region>.amazonaws.com); null uses CloudWatch's own encryption."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (on top of the provider's default tags)."
  default     = {}
}
