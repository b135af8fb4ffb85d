# The VPC spans two or more zones with private nodes; the cluster encrypts secrets with its own rotating key and
# sends every control-plane log; nodes are 4th-gen Xeon with IMDSv2 and encrypted disks; the pods' IRSA role is
# trusted by one ServiceAccount and reads only the model prefix. Offline: the AWS provider is mocked.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/treeport-eks/flow" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      arn                   = "arn:aws:eks:us-east-1:123456789012:cluster/treeport-eks"
      identity              = [{ oidc = [{ issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }] }]
      certificate_authority = [{ data = "LS0tLS1CRUdJTi..." }]
      endpoint              = "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
    }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
}

variables {
  name                 = "treeport-eks"
  model_store_uri      = "s3://treeport-models/models"
  model_kms_key_arn    = "arn:aws:kms:us-east-1:123456789012:key/99999999-2222-3333-4444-555555555555"
  admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]
}

run "the_cluster_encrypts_secrets_and_logs_everything" {
  command = apply

  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"]) && aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == aws_kms_key.this.arn
    error_message = "Kubernetes secrets must be encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The secrets key must rotate."
  }

  assert {
    condition     = aws_eks_cluster.this.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "Every control-plane log type must be on."
  }

  assert {
    condition     = aws_eks_cluster.this.version == "1.33" && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "Kubernetes 1.33 by default, with the private API endpoint on."
  }

  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API"
    error_message = "Access is managed with EKS access entries."
  }

  assert {
    condition     = aws_eks_access_policy_association.admin["arn:aws:iam::123456789012:role/platform-admins"].policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    error_message = "Each admin principal gets an access entry with the cluster admin policy."
  }
}

run "the_network_spans_zones_with_private_nodes" {
  command = apply

  assert {
    condition     = length(aws_subnet.private) == 2 && length(distinct(aws_subnet.private[*].availability_zone)) == 2
    error_message = "Private subnets in two zones by default."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Nothing launched in a public subnet gets a public IP by itself."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1
    error_message = "One NAT gateway by default."
  }

  assert {
    condition     = toset(aws_eks_node_group.this.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "Nodes run in the private subnets."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group allows nothing."
  }

  assert {
    condition     = aws_flow_log.this[0].traffic_type == "ALL"
    error_message = "VPC flow logs record all traffic."
  }
}

run "nodes_are_xeon_with_imdsv2_and_encrypted_disks" {
  command = apply

  assert {
    condition     = aws_eks_node_group.this.instance_types == tolist(["m7i.large"])
    error_message = "Nodes are m7i.large by default."
  }

  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required" && aws_launch_template.node.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 only, one hop: pods cannot take the node's credentials."
  }

  assert {
    condition     = aws_launch_template.node.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "Node disks are encrypted."
  }
}

run "the_irsa_role_is_for_one_service_account_and_reads_only_the_model_prefix" {
  command = apply

  assert {
    condition     = jsondecode(aws_iam_role.irsa.assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub"] == "system:serviceaccount:treeport:treeport"
    error_message = "Only the treeport/treeport ServiceAccount may assume the role."
  }

  assert {
    condition     = jsondecode(aws_iam_role.irsa.assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud"] == "sts.amazonaws.com"
    error_message = "The token's audience must be STS."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.irsa.policy).Statement : flatten([s.Action])
    ])) == toset(["s3:GetObject", "s3:ListBucket", "kms:Decrypt"])
    error_message = "The pods may read objects, list the prefix and decrypt: nothing else."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.irsa.policy).Statement : s if s.Sid == "ReadModelStore"
    ]).Resource == "arn:aws:s3:::treeport-models/models/*"
    error_message = "s3:GetObject must be scoped to the model prefix."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.irsa.policy).Statement : s if s.Sid == "UseModelStoreKey"
    ]).Resource == var.model_kms_key_arn
    error_message = "kms:Decrypt must be scoped to the model bucket's key."
  }
}

run "one_nat_gateway_per_zone_when_asked" {
  command = plan

  variables {
    single_nat_gateway = false
    az_count           = 3
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_subnet.private) == 3
    error_message = "One NAT gateway and one private subnet per zone."
  }
}

run "rejects_instance_types_that_are_not_4th_gen_xeon" {
  command = plan

  variables {
    node_instance_types = ["m5.large"]
  }

  expect_failures = [var.node_instance_types]
}

run "rejects_a_single_zone" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
}

run "rejects_a_desired_size_outside_min_and_max" {
  command = plan

  variables {
    node_desired_size = 9
  }

  expect_failures = [var.node_desired_size]
}

run "the_kubernetes_api_is_private_by_default" {
  command = plan

  assert {
    condition     = !aws_eks_cluster.this.vpc_config[0].endpoint_public_access && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "Without CIDRs the control-plane endpoint is reachable from inside the VPC only."
  }
}

run "a_public_kubernetes_api_admits_the_ranges_given" {
  command = plan

  variables {
    endpoint_public_access = true
    public_access_cidrs    = ["203.0.113.0/24"]
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access && aws_eks_cluster.this.vpc_config[0].public_access_cidrs == toset(["203.0.113.0/24"])
    error_message = "A public endpoint admits exactly the ranges given."
  }
}

run "refuses_a_public_kubernetes_api_without_ranges" {
  command = plan

  variables {
    endpoint_public_access = true
    public_access_cidrs    = []
  }

  expect_failures = [var.public_access_cidrs]
}

run "refuses_a_public_kubernetes_api_open_to_everyone" {
  command = plan

  variables {
    endpoint_public_access = true
    public_access_cidrs    = ["0.0.0.0/0"]
  }

  expect_failures = [var.public_access_cidrs]
}

run "the_vpc_cni_enforces_network_policies_with_its_own_irsa_role" {
  command = apply

  assert {
    condition     = aws_eks_addon.vpc_cni.addon_name == "vpc-cni" && jsondecode(aws_eks_addon.vpc_cni.configuration_values).enableNetworkPolicy == "true"
    error_message = "The vpc-cni add-on is managed with enableNetworkPolicy, so the NetworkPolicy in k8s/ is enforced."
  }

  assert {
    condition     = aws_eks_addon.vpc_cni.service_account_role_arn == aws_iam_role.vpc_cni.arn
    error_message = "aws-node runs with the add-on's IRSA role."
  }

  assert {
    condition = jsondecode(aws_iam_role.vpc_cni.assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub" = "system:serviceaccount:kube-system:aws-node"
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud" = "sts.amazonaws.com"
    }
    error_message = "Only the aws-node ServiceAccount may assume the CNI role."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.vpc_cni.policy_arn == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    error_message = "The CNI policy is on the aws-node role."
  }

  assert {
    condition     = !contains(keys(aws_iam_role_policy_attachment.node), "AmazonEKS_CNI_Policy")
    error_message = "The node role must not carry the CNI policy (every pod without IRSA could use it through the node)."
  }
}
