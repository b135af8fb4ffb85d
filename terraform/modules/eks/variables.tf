variable "name" {
  type        = string
  description = "Name of the EKS cluster; also names the VPC, roles, node group and KMS key."

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{2,37}$", var.name))
    error_message = "name must be 3-38 letters, digits and hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the control plane and nodes (major.minor)."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a major.minor version from 1.28 to 1.39, e.g. \"1.33\"."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 range of the VPC; each availability zone gets a public and a private subnet carved out of it."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR block from /16 to /20."
  }
}

variable "az_count" {
  type        = number
  description = "Availability zones the subnets and nodes spread over."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be 2, 3 or 4 (EKS needs subnets in at least two zones)."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "NAT gateway(s) for the private subnets. Without NAT the nodes need VPC endpoints (ECR, S3, STS, EKS), which this module does not create."
  default     = true
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all zones (cheaper) instead of one per zone (survives the loss of a zone)."
  default     = true
}

variable "endpoint_public_access" {
  type        = bool
  description = "Reach the Kubernetes API from outside the VPC (kubectl from a laptop or CI), from public_access_cidrs only; off (the default), it is reachable from inside the VPC alone."
  default     = false
}

variable "public_access_cidrs" {
  type        = list(string)
  description = "Address ranges allowed to reach the public Kubernetes API endpoint (your office, VPN or CI ranges); required, and never 0.0.0.0/0, when endpoint_public_access is on."
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrnetmask(c))])
    error_message = "public_access_cidrs must be IPv4 CIDR blocks."
  }

  validation {
    condition     = !var.endpoint_public_access || (length(var.public_access_cidrs) > 0 && !contains(var.public_access_cidrs, "0.0.0.0/0"))
    error_message = "A public Kubernetes API needs public_access_cidrs naming your own ranges (not 0.0.0.0/0); or leave endpoint_public_access off for a private endpoint."
  }
}

variable "node_instance_types" {
  type        = list(string)
  description = "Instance types of the managed node group: 4th-gen Xeon (Sapphire Rapids) families m7i, c7i, r7i and their -flex variants."
  default     = ["m7i.large"]

  validation {
    condition     = length(var.node_instance_types) > 0 && alltrue([for t in var.node_instance_types : can(regex("^(m7i|m7i-flex|c7i|c7i-flex|r7i)\\.(large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$", t))])
    error_message = "node_instance_types must list 4th-gen Xeon instance types: m7i.*, m7i-flex.*, c7i.*, c7i-flex.* or r7i.* (e.g. m7i.large)."
  }
}

variable "node_min_size" {
  type        = number
  description = "Fewest nodes in the node group."
  default     = 2

  validation {
    condition     = var.node_min_size >= 1 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number of at least 1."
  }
}

variable "node_desired_size" {
  type        = number
  description = "Nodes the group starts with (the cluster autoscaler, if installed, moves it afterwards)."
  default     = 2

  validation {
    condition     = var.node_desired_size >= var.node_min_size && var.node_desired_size <= var.node_max_size
    error_message = "node_desired_size must be between node_min_size and node_max_size."
  }
}

variable "node_max_size" {
  type        = number
  description = "Most nodes in the node group."
  default     = 6

  validation {
    condition     = var.node_max_size >= var.node_min_size && var.node_max_size <= 100 && floor(var.node_max_size) == var.node_max_size
    error_message = "node_max_size must be a whole number between node_min_size and 100."
  }
}

variable "node_disk_size_gb" {
  type        = number
  description = "Root volume of each node (encrypted gp3), in GiB."
  default     = 50

  validation {
    condition     = var.node_disk_size_gb >= 20 && var.node_disk_size_gb <= 1000 && floor(var.node_disk_size_gb) == var.node_disk_size_gb
    error_message = "node_disk_size_gb must be a whole number between 20 and 1000."
  }
}

variable "model_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the model store's objects; the IRSA role gets kms:Decrypt on it (null: none needed)."
  default     = null
}

variable "service_account_namespace" {
  type        = string
  description = "Namespace of the Kubernetes ServiceAccount that may assume the IRSA role."
  default     = "treeport"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.service_account_namespace))
    error_message = "service_account_namespace must be a DNS-1123 label."
  }
}

variable "service_account_name" {
  type        = string
  description = "Name of the Kubernetes ServiceAccount that may assume the IRSA role."
  default     = "treeport"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account_name))
    error_message = "service_account_name must be a DNS-1123 subdomain."
  }
}

variable "admin_principal_arns" {
  type        = list(string)
  description = "IAM roles or users given cluster-admin through EKS access entries (the identity that creates the cluster is admin already)."
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs."
  }
}

variable "flow_logs_enabled" {
  type        = bool
  description = "Record the VPC's rejected and accepted traffic in CloudWatch Logs."
  default     = true
}
