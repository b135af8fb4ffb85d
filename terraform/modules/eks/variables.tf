variable "name" {
  type        = string
  description = "Name of the EKS cluster; also names the VPC, roles, KMS key, alarms and dashboard."

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

variable "builtin_node_pools" {
  type        = list(string)
  description = "EKS Auto Mode's built-in NodePools to enable: general-purpose (C, M and R instances of generation 5 or newer, amd64) and system (for critical add-ons, tainted CriticalAddonsOnly). They run the add-ons from the first apply; the Treeport pods go to the Xeon NodePool that `treeport deploy eks apply` creates. At least one is needed, or the add-ons wait for nodes that never come."
  default     = ["general-purpose", "system"]

  validation {
    condition     = length(var.builtin_node_pools) > 0 && alltrue([for p in var.builtin_node_pools : contains(["general-purpose", "system"], p)]) && length(distinct(var.builtin_node_pools)) == length(var.builtin_node_pools)
    error_message = "builtin_node_pools must name general-purpose, system or both, each once."
  }
}

variable "node_instance_families" {
  type        = list(string)
  description = "Instance families of the Treeport NodePool (its eks.amazonaws.com/instance-family requirement): 4th-gen Xeon (Sapphire Rapids) c7i, m7i, r7i and the -flex variants. Auto Mode picks the size."
  default     = ["c7i", "m7i", "r7i"]

  validation {
    condition     = length(var.node_instance_families) > 0 && alltrue([for f in var.node_instance_families : contains(["c7i", "c7i-flex", "m7i", "m7i-flex", "r7i"], f)])
    error_message = "node_instance_families must list 4th-gen Xeon families: c7i, c7i-flex, m7i, m7i-flex or r7i."
  }
}

variable "node_pool_cpu_limit" {
  type        = number
  description = "Most vCPUs the Treeport NodePool's nodes may have together: the ceiling of node autoscaling (the HPA's maxReplicas must fit under it)."
  default     = 32

  validation {
    condition     = var.node_pool_cpu_limit >= 4 && var.node_pool_cpu_limit <= 10000 && floor(var.node_pool_cpu_limit) == var.node_pool_cpu_limit
    error_message = "node_pool_cpu_limit must be a whole number of vCPUs from 4 to 10000."
  }
}

variable "node_disk_size_gb" {
  type        = number
  description = "Ephemeral storage (the encrypted data volume) of each Treeport node, in GiB: the NodeClass's ephemeralStorage.size."
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

variable "drift_alarm_enabled" {
  type        = bool
  description = "Have the CloudWatch agent scrape the pods' metrics port and alarm on the drift gauge treeport_drift_psi_max. Off by default: it sets the amazon-cloudwatch-observability add-on's agent.config and agent.prometheus values, keys of the add-on's Helm chart that were not checked against `aws eks describe-addon-configuration` for your add-on version."
  default     = false
}

variable "alarm_thresholds" {
  type = object({
    pod_restarts       = optional(number, 3)
    min_running_pods   = optional(number, 2)
    pod_cpu_percent    = optional(number, 90)
    pod_memory_percent = optional(number, 90)
    node_cpu_percent   = optional(number, 85)
    failed_nodes       = optional(number, 1)
    drift_psi          = optional(number, 0.2)
  })
  description = "When each alarm fires, per period: container restarts of a Treeport pod, fewer running pods than min_running_pods (the HPA's minReplicas), pod CPU (average) and memory (fullest pod) as a percentage of their limits, node CPU percentage, failed nodes, and the largest drift PSI (0.2 is the usual line for a significant shift)."
  default     = {}

  validation {
    condition     = var.alarm_thresholds.pod_restarts >= 1 && var.alarm_thresholds.min_running_pods >= 1 && var.alarm_thresholds.failed_nodes >= 1
    error_message = "alarm_thresholds.pod_restarts, min_running_pods and failed_nodes are counts of at least 1."
  }

  validation {
    condition     = alltrue([for p in [var.alarm_thresholds.pod_cpu_percent, var.alarm_thresholds.pod_memory_percent, var.alarm_thresholds.node_cpu_percent] : p > 0 && p <= 100])
    error_message = "alarm_thresholds.pod_cpu_percent, pod_memory_percent and node_cpu_percent are percentages: more than 0, at most 100."
  }

  validation {
    condition     = var.alarm_thresholds.drift_psi > 0 && var.alarm_thresholds.drift_psi <= 10
    error_message = "alarm_thresholds.drift_psi must be more than 0 and at most 10."
  }
}

variable "alarm_period_seconds" {
  type        = number
  description = "Length in seconds of the period each alarm evaluates: a multiple of 60 (Container Insights reports once a minute)."
  default     = 60

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds <= 86400 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60, at most 86400."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "Consecutive breaching periods before an alarm fires (each of them must breach)."
  default     = 3

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 10 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number from 1 to 10."
  }
}
