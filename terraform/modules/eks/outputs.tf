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

output "node_group_name" {
  description = "Name of the managed node group."
  value       = aws_eks_node_group.this.node_group_name
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

output "vpc_cni_role_arn" {
  description = "Role the aws-node ServiceAccount (VPC CNI) assumes through IRSA; it alone holds AmazonEKS_CNI_Policy."
  value       = aws_iam_role.vpc_cni.arn
}
