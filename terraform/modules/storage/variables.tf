variable "name_prefix" {
  type        = string
  description = "Prefix of every name this module creates (ECR repositories are \"<name_prefix>/<repository>\")."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "create_bucket" {
  type        = bool
  description = "Create the model/data bucket. Set false when the model store lives in a bucket managed elsewhere."
  default     = true
}

variable "bucket_name" {
  type        = string
  description = "Name of the model/data bucket (globally unique). Required when create_bucket is true."
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the bucket and the ECR repositories even when they still hold objects or images."
  default     = false
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept before it expires."
  default     = 90

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "noncurrent_version_days must be a whole number between 1 and 3650."
  }
}

variable "access_log_bucket" {
  type        = string
  description = "Existing bucket that receives S3 server access logs for the model bucket (null: no access logging)."
  default     = null
}

variable "ecr_repositories" {
  type        = set(string)
  description = "ECR repositories to create, by short name (e.g. \"serve\", \"lambda\"); each is named \"<name_prefix>/<name>\"."
  default     = ["serve"]

  validation {
    condition     = alltrue([for r in var.ecr_repositories : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", r))])
    error_message = "Each ECR repository name must be lower-case letters and digits, separated by single '.', '_' or '-'."
  }
}

variable "ecr_keep_images" {
  type        = number
  description = "Tagged images kept per ECR repository; older ones expire (untagged images expire after a day)."
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number between 1 and 1000."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (on top of the provider's default tags)."
  default     = {}
}
