# The variables every stack takes alike. Linked into each stack as shared_stack_variables.tf.

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
  description = "ECR image the target runs (lambda/Dockerfile for serverless, the Dockerfile for sagemaker and eks), by tag or digest. Leave null on the first apply: it creates the bucket and the ECR repository, whose URL it prints (the eks stack creates its cluster either way; `treeport deploy eks` puts the image in the Kubernetes overlay)."
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
