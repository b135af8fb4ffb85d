# The VPC spans two or more zones with private nodes; the cluster encrypts secrets with its own rotating key and
# sends every control-plane log; EKS Auto Mode runs compute, load balancing and block storage, with metrics-server and
# Container Insights as add-ons; the pods' IRSA role is trusted by one ServiceAccount and reads only the model prefix;
# alarms notify one encrypted topic. Offline: the AWS provider is mocked.

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
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:treeport-eks-alarms" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:treeport-eks" }
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
    condition     = toset(aws_eks_cluster.this.vpc_config[0].subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "The cluster (and the built-in NodeClass's nodes) use the private subnets only."
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1"]) && alltrue([for s in aws_subnet.private : s.tags["kubernetes.io/role/internal-elb"] == "1"])
    error_message = "Auto Mode's load balancing finds its subnets by these tags: public for internet-facing, private for internal."
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

run "auto_mode_runs_compute_load_balancing_and_storage" {
  command = apply

  assert {
    condition     = aws_eks_cluster.this.compute_config[0].enabled && aws_eks_cluster.this.compute_config[0].node_role_arn == aws_iam_role.node.arn && aws_eks_cluster.this.compute_config[0].node_pools == toset(["general-purpose", "system"])
    error_message = "Auto Mode compute is on, with the module's node role and both built-in pools (they run the add-ons from the first apply)."
  }

  assert {
    condition     = aws_eks_cluster.this.kubernetes_network_config[0].elastic_load_balancing[0].enabled && aws_eks_cluster.this.storage_config[0].block_storage[0].enabled
    error_message = "Auto Mode's load balancing (the Service's NLB) and block storage capabilities are on; EKS refuses compute without them."
  }

  assert {
    condition     = !aws_eks_cluster.this.bootstrap_self_managed_addons
    error_message = "No self-managed VPC CNI, CoreDNS or kube-proxy next to Auto Mode's own."
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.cluster : a.policy_arn]) == toset([for p in ["AmazonEKSClusterPolicy", "AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy", "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy"] : "arn:aws:iam::aws:policy/${p}"])
    error_message = "The cluster role carries exactly the policies of Auto Mode's capabilities."
  }

  assert {
    condition     = contains(jsondecode(aws_iam_role.cluster.assume_role_policy).Statement[0].Action, "sts:TagSession")
    error_message = "Auto Mode tags the sessions of the cluster role."
  }

  assert {
    condition     = toset([for a in aws_iam_role_policy_attachment.node : a.policy_arn]) == toset(["arn:aws:iam::aws:policy/AmazonEKSWorkerNodeMinimalPolicy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"])
    error_message = "The node role joins the cluster and pulls images, nothing more (no CNI policy, no CloudWatch policy)."
  }

  assert {
    condition     = output.node_pool.instance_families == tolist(["c7i", "m7i", "r7i"]) && output.node_pool.cpu_limit == 32 && output.node_pool.disk_size_gb == 50 && output.node_role_name == aws_iam_role.node.name
    error_message = "The Treeport NodePool's inputs are 4th-gen Xeon families, a 32 vCPU ceiling and 50 GiB disks by default."
  }
}

run "metrics_server_and_container_insights_are_add_ons" {
  command = apply

  assert {
    condition     = aws_eks_addon.metrics_server.addon_name == "metrics-server" && aws_eks_addon.metrics_server.cluster_name == aws_eks_cluster.this.name
    error_message = "metrics-server is an add-on: the HPA has CPU figures without a hand step."
  }

  assert {
    condition     = aws_eks_addon.cloudwatch_observability.addon_name == "amazon-cloudwatch-observability" && aws_eks_addon.cloudwatch_observability.service_account_role_arn == aws_iam_role.cloudwatch_agent.arn
    error_message = "Container Insights is an add-on whose agent runs with its own IRSA role."
  }

  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.this), "drift-psi") && !contains(keys(aws_cloudwatch_log_group.container_insights), "prometheus")
    error_message = "Without drift_alarm_enabled the agent scrapes nothing of the pods, and there is no drift alarm."
  }

  assert {
    condition = jsondecode(aws_iam_role.cloudwatch_agent.assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub" = "system:serviceaccount:amazon-cloudwatch:cloudwatch-agent"
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud" = "sts.amazonaws.com"
    }
    error_message = "Only the amazon-cloudwatch/cloudwatch-agent ServiceAccount may assume the agent's role."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.cloudwatch_agent.policy_arn == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    error_message = "The agent's role carries AWS's CloudWatch agent policy."
  }

  assert {
    condition     = keys(aws_cloudwatch_log_group.container_insights) == ["application", "dataplane", "host", "performance"] && alltrue([for g in aws_cloudwatch_log_group.container_insights : g.retention_in_days == 365 && startswith(g.name, "/aws/containerinsights/treeport-eks/")])
    error_message = "Container Insights' log groups exist before the agent writes, with a retention."
  }
}

run "alarms_watch_the_pods_and_nodes_and_notify_one_topic" {
  command = apply

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 6 && alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn])])
    error_message = "Six alarms, each notifying the alarm topic when it fires and when it clears."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["pod-restarts"].namespace == "ContainerInsights" && aws_cloudwatch_metric_alarm.this["pod-restarts"].metric_name == "pod_number_of_container_restarts" && aws_cloudwatch_metric_alarm.this["pod-restarts"].dimensions == tomap({ ClusterName = "treeport-eks", Namespace = "treeport", PodName = "treeport" }) && aws_cloudwatch_metric_alarm.this["pod-restarts"].threshold == 3
    error_message = "Container restarts of the treeport pods alarm at 3 by default."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["running-pods"].metric_name == "service_number_of_running_pods" && aws_cloudwatch_metric_alarm.this["running-pods"].comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.this["running-pods"].threshold == 2 && aws_cloudwatch_metric_alarm.this["running-pods"].treat_missing_data == "breaching" && aws_cloudwatch_metric_alarm.this["running-pods"].dimensions["Service"] == "treeport"
    error_message = "Fewer than two running pods behind the Service alarms, and no figure at all counts as none running."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["pod-cpu"].metric_name == "pod_cpu_utilization_over_pod_limit" && aws_cloudwatch_metric_alarm.this["pod-memory"].metric_name == "pod_memory_utilization_over_pod_limit" && aws_cloudwatch_metric_alarm.this["pod-memory"].statistic == "Maximum" && aws_cloudwatch_metric_alarm.this["node-cpu"].metric_name == "node_cpu_utilization" && aws_cloudwatch_metric_alarm.this["failed-nodes"].metric_name == "cluster_failed_node_count"
    error_message = "Pod CPU and memory against their limits, node CPU and failed nodes have alarms."
  }

  assert {
    condition     = alltrue([for k, a in aws_cloudwatch_metric_alarm.this : a.period == 60 && a.evaluation_periods == 3 && a.datapoints_to_alarm == 3 && (k == "running-pods" ? true : a.treat_missing_data == "notBreaching")])
    error_message = "Every alarm evaluates 60 s periods, three in a row; no figure is no fault except for running pods."
  }

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == "alias/aws/sns" && output.alarm_topic_arn == aws_sns_topic.alarms.arn
    error_message = "The alarm topic must be encrypted and be an output."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 4 && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "service_number_of_running_pods") && !strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "treeport_drift_psi_max") && output.dashboard_name == "treeport-eks"
    error_message = "One dashboard with the pods' and nodes' metrics and the alarms."
  }
}

run "the_drift_alarm_scrapes_the_pods_drift_gauge" {
  command = apply

  variables {
    drift_alarm_enabled = true
    alarm_thresholds    = { drift_psi = 0.25, pod_restarts = 5 }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["drift-psi"].namespace == "ContainerInsights/Prometheus" && aws_cloudwatch_metric_alarm.this["drift-psi"].metric_name == "treeport_drift_psi_max" && aws_cloudwatch_metric_alarm.this["drift-psi"].statistic == "Maximum" && aws_cloudwatch_metric_alarm.this["drift-psi"].threshold == 0.25 && aws_cloudwatch_metric_alarm.this["pod-restarts"].threshold == 5 && aws_cloudwatch_metric_alarm.this["node-cpu"].threshold == 85
    error_message = "The drift gauge alarms at the PSI given; other thresholds keep their defaults."
  }

  assert {
    condition     = one(jsondecode(aws_eks_addon.cloudwatch_observability.configuration_values).agent.prometheus.config.scrape_configs).kubernetes_sd_configs[0].namespaces.names == ["treeport"]
    error_message = "The agent scrapes pods of the Treeport namespace only."
  }

  assert {
    condition     = one(jsondecode(aws_eks_addon.cloudwatch_observability.configuration_values).agent.config.logs.metrics_collected.prometheus.emf_processor.metric_declaration).metric_selectors == ["^treeport_drift_psi_max$"] && jsondecode(aws_eks_addon.cloudwatch_observability.configuration_values).agent.config.logs.metrics_collected.kubernetes.enhanced_container_insights
    error_message = "Only the drift gauge becomes a CloudWatch metric, and Container Insights stays on beside it."
  }

  assert {
    condition     = contains(keys(aws_cloudwatch_log_group.container_insights), "prometheus") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "treeport_drift_psi_max")
    error_message = "The scraped metrics' log group has a retention, and the dashboard charts the drift gauge."
  }
}

run "rejects_thresholds_out_of_range" {
  command = plan

  variables {
    alarm_thresholds = { pod_cpu_percent = 120 }
  }

  expect_failures = [var.alarm_thresholds]
}

run "rejects_an_alarm_period_under_a_minute" {
  command = plan

  variables {
    alarm_period_seconds = 30
  }

  expect_failures = [var.alarm_period_seconds]
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

run "rejects_instance_families_that_are_not_4th_gen_xeon" {
  command = plan

  variables {
    node_instance_families = ["m7i", "m6i"]
  }

  expect_failures = [var.node_instance_families]
}

run "rejects_auto_mode_without_a_built_in_pool" {
  command = plan

  variables {
    builtin_node_pools = []
  }

  expect_failures = [var.builtin_node_pools]
}

run "rejects_a_single_zone" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
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
