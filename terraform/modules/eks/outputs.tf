output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 certificate of the cluster's CA (for a kubeconfig)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (for more IRSA roles)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "irsa_role_arn" {
  description = "Role the Treeport ServiceAccount assumes (its eks.amazonaws.com/role-arn annotation)."
  value       = aws_iam_role.irsa.arn
}

output "service_account" {
  description = "Namespace and name of the ServiceAccount the IRSA role trusts."
  value       = { namespace = var.service_account_namespace, name = var.service_account_name }
}

output "node_role_name" {
  description = "IAM role of the nodes (the Treeport NodeClass's spec.role); EKS gave it an access entry with AmazonEKSAutoNodePolicy."
  value       = aws_iam_role.node.name
}

output "cluster_security_group_id" {
  description = "Security group EKS made for the cluster; the Treeport NodeClass puts its nodes in it, as the built-in one does."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "node_pool" {
  description = "What the Treeport NodePool and NodeClass (k8s/eks-auto-mode, rendered by `treeport deploy eks apply`) are given: instance families, vCPU limit, ephemeral storage in GiB."
  value       = { instance_families = var.node_instance_families, cpu_limit = var.node_pool_cpu_limit, disk_size_gb = var.node_disk_size_gb }
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets (nodes, internal load balancers)."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets (internet-facing load balancers, NAT)."
  value       = aws_subnet.public[*].id
}

output "update_kubeconfig_command" {
  description = "Command that adds the cluster to your kubeconfig."
  value       = "aws eks update-kubeconfig --region ${local.region} --name ${aws_eks_cluster.this.name}"
}

output "private_subnet_cidrs" {
  description = "Address ranges of the private subnets, where the nodes run (the CloudWatch agent scrapes the pods from its node's address)."
  value       = aws_subnet.private[*].cidr_block
}

output "cloudwatch_agent_role_arn" {
  description = "Role the CloudWatch agent (amazon-cloudwatch/cloudwatch-agent) assumes through IRSA: CloudWatchAgentServerPolicy."
  value       = aws_iam_role.cloudwatch_agent.arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe to it)."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the cluster's workload."
  value       = sort([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name])
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the Treeport pods, the nodes and the alarms."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "drift_alarm_enabled" {
  description = "Whether the CloudWatch agent scrapes the pods' drift gauge (the NetworkPolicy then admits the nodes' addresses on the metrics port)."
  value       = var.drift_alarm_enabled
}
