output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the cluster."
  value       = module.eks.cluster_certificate_authority_data
}

output "update_kubeconfig_command" {
  description = "Adds the cluster to your kubeconfig."
  value       = module.eks.update_kubeconfig_command
}

output "irsa_role_arn" {
  description = "Role for the ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = module.eks.irsa_role_arn
}

output "service_account" {
  description = "Namespace and name of the ServiceAccount the IRSA role trusts."
  value       = module.eks.service_account
}

output "ecr_repository_url" {
  description = "Where to push the serving image (docker push <url>:<tag>)."
  value       = module.storage.ecr_repository_urls["serve"]
}

output "image_uri" {
  description = "Image the Kubernetes overlay runs (the image_uri variable)."
  value       = var.image_uri
}

output "model_store_uri" {
  description = "Model store the pods read: `treeport train --store <this>` publishes into it."
  value       = local.model_store_uri
}

output "model_name" {
  description = "Model the pods serve."
  value       = var.model_name
}

output "model_version" {
  description = "Version the pods serve."
  value       = var.model_version
}

output "region" {
  description = "Region of the cluster."
  value       = var.region
}

output "load_balancer_scheme" {
  description = "Scheme of the Service's NLB (internal or internet-facing)."
  value       = var.load_balancer_scheme
}

output "load_balancer_certificate_arn" {
  description = "ACM certificate of the NLB's TLS listener, if any."
  value       = var.load_balancer_certificate_arn
}

output "load_balancer_source_ranges" {
  description = "Client address ranges the NLB admits (empty: any)."
  value       = var.load_balancer_source_ranges
}

output "api_key_digests" {
  description = "SHA-256 digests of the accepted API keys (the treeport-api-keys Secret)."
  value       = var.api_key_digests
}

output "node_role_name" {
  description = "IAM role of the nodes (the Treeport NodeClass's spec.role)."
  value       = module.eks.node_role_name
}

output "cluster_security_group_id" {
  description = "The cluster's security group (the Treeport NodeClass's nodes join it)."
  value       = module.eks.cluster_security_group_id
}

output "private_subnet_ids" {
  description = "Private subnets (the Treeport NodeClass places its nodes there)."
  value       = module.eks.private_subnet_ids
}

output "private_subnet_cidrs" {
  description = "Address ranges of the private subnets (the nodes)."
  value       = module.eks.private_subnet_cidrs
}

output "node_pool" {
  description = "Instance families, vCPU limit and disk size of the Treeport NodePool."
  value       = module.eks.node_pool
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe to it)."
  value       = module.eks.alarm_topic_arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the stack."
  value       = module.eks.alarm_names
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pods, nodes and alarms."
  value       = module.eks.dashboard_name
}

output "drift_alarm_enabled" {
  description = "Whether the CloudWatch agent scrapes the pods' drift gauge."
  value       = module.eks.drift_alarm_enabled
}
