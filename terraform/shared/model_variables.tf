# Which model a target serves. Linked into the serverless and sagemaker modules and into every stack
# (as shared_model_variables.tf), so the rule for a model name or version is written once.

variable "model_name" {
  type        = string
  description = "Model to serve (TREEPORT_MODEL_NAME); the SageMaker pipeline also trains it."
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
