variable "kubernetes_version" {
  type        = string
  description = "Kubernetes version of the cluster (major.minor)."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "node_instance_families" {
  type        = list(string)
  description = "Instance families of the Treeport NodePool (4th-gen Xeon: c7i, m7i, r7i and -flex variants); EKS Auto Mode picks the sizes."
  default     = ["c7i", "m7i", "r7i"]

  validation {
    condition     = length(var.node_instance_families) > 0 && alltrue([for f in var.node_instance_families : contains(["c7i", "c7i-flex", "m7i", "m7i-flex", "r7i"], f)])
    error_message = "node_instance_families must list c7i, c7i-flex, m7i, m7i-flex or r7i."
  }
}

variable "node_pool_cpu_limit" {
  type        = number
  description = "Most vCPUs the Treeport NodePool's nodes may have together (the ceiling of node autoscaling)."
  default     = 32

  validation {
    condition     = var.node_pool_cpu_limit >= 4 && var.node_pool_cpu_limit <= 10000
    error_message = "node_pool_cpu_limit must be from 4 to 10000 vCPUs."
  }
}

variable "az_count" {
  type        = number
  description = "Availability zones to spread subnets and nodes over."
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be 2, 3 or 4."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "NAT for the private subnets (the nodes need it to pull images and reach AWS APIs)."
  default     = true
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all zones (cheaper) rather than one per zone."
  default     = true
}

variable "public_access_cidrs" {
  type        = list(string)
  description = "Your own address ranges that may reach the Kubernetes API from outside the VPC (needed for `treeport deploy eks` from a laptop or CI); empty (the default) keeps the API private to the VPC."
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrnetmask(c))]) && !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "public_access_cidrs must be IPv4 CIDR blocks of your own ranges (not 0.0.0.0/0)."
  }
}

variable "admin_principal_arns" {
  type        = list(string)
  description = "IAM roles or users made cluster admins (besides the identity that applies this stack)."
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs."
  }
}

variable "load_balancer_scheme" {
  type        = string
  description = "Who reaches the Service's NLB: internal (the VPC and what is peered with it) or internet-facing, which `treeport deploy eks` renders only with load_balancer_certificate_arn and api_key_digests set."
  default     = "internal"

  validation {
    condition     = contains(["internal", "internet-facing"], var.load_balancer_scheme)
    error_message = "load_balancer_scheme must be internal or internet-facing."
  }
}

variable "load_balancer_certificate_arn" {
  type        = string
  description = "ACM certificate for TLS on the NLB (port 443, ELBSecurityPolicy-TLS13-1-2-2021-06); null serves plain HTTP on port 80, which only an internal NLB may do."
  default     = null

  validation {
    condition     = var.load_balancer_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.load_balancer_certificate_arn))
    error_message = "load_balancer_certificate_arn must be an ACM certificate ARN."
  }
}

variable "load_balancer_source_ranges" {
  type        = list(string)
  description = "Client address ranges the NLB admits (the Service's loadBalancerSourceRanges); empty admits any address that can reach it."
  default     = []

  validation {
    condition     = alltrue([for c in var.load_balancer_source_ranges : can(cidrnetmask(c))])
    error_message = "load_balancer_source_ranges must be IPv4 CIDR blocks."
  }
}

variable "api_key_digests" {
  type        = list(string)
  description = "SHA-256 hex digests (not the keys) of the API keys the pods accept, put in the treeport-api-keys Secret; empty means no authentication, which only an internal NLB may have."
  default     = []

  validation {
    condition     = alltrue([for d in var.api_key_digests : can(regex("^[0-9a-f]{64}$", d))])
    error_message = "api_key_digests must be lowercase SHA-256 hex digests (64 characters each)."
  }
}

variable "drift_alarm_enabled" {
  type        = bool
  description = "Scrape the pods' drift gauge with the CloudWatch agent and alarm on it (see the eks module's README before turning it on)."
  default     = false
}

variable "alarm_thresholds" {
  type = object({
    pod_restarts       = optional(number)
    min_running_pods   = optional(number)
    pod_cpu_percent    = optional(number)
    pod_memory_percent = optional(number)
    node_cpu_percent   = optional(number)
    failed_nodes       = optional(number)
    drift_psi          = optional(number)
  })
  description = "Thresholds of the alarms (the eks module's alarm_thresholds); a value left out keeps the module's default."
  default     = {}
}
