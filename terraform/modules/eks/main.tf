# A VPC over two or more zones, an EKS Auto Mode cluster (secrets encrypted with KMS, every control-plane log; AWS runs
# node autoscaling, load balancing, block storage and the CNI), the metrics-server and CloudWatch Observability
# add-ons, the IRSA role that lets the Treeport pods read the model prefix and nothing else, and the alarms.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The first az_count zones in name order are used; AWS names a new zone with the next letter, so it never enters that slice.
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # /16 -> public /20s at the bottom, private /19s in the upper half: room for pods on the private side (VPC CNI).
  public_cidrs  = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 4, i)]
  private_cidrs = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 3, i + 4)]
  nat_count     = var.enable_nat_gateway ? (var.single_nat_gateway ? 1 : var.az_count) : 0

  oidc_issuer = aws_eks_cluster.this.identity[0].oidc[0].issuer
  oidc_host   = trimprefix(local.oidc_issuer, "https://")

  kms_key_actions = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
    "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant", "kms:RevokeGrant",
    "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription",
  ]
}

# --- network --------------------------------------------------------------------------------------------------------

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# No rules: nothing may use the default security group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.public_cidrs[count.index]
  map_public_ip_on_launch = false
  # Internet-facing load balancers (the Service's NLB) go here.
  tags = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", "kubernetes.io/role/elb" = "1" })
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_cidrs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", "kubernetes.io/role/internal-elb" = "1" })
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-${local.azs[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })

  dynamic "route" {
    for_each = local.nat_count > 0 ? [1] : []
    content {
      cidr_block     = "0.0.0.0/0"
      nat_gateway_id = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
    }
  }
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

resource "aws_cloudwatch_log_group" "flow" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  count = var.flow_logs_enabled ? 1 : 0

  name              = "/aws/vpc/${var.name}/flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "flow" {
  count = var.flow_logs_enabled ? 1 : 0

  name = "${var.name}-vpc-flow-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "flow" {
  count = var.flow_logs_enabled ? 1 : 0

  name = "${var.name}-vpc-flow-logs"
  role = aws_iam_role.flow[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteFlowLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
      Resource = [aws_cloudwatch_log_group.flow[0].arn, "${aws_cloudwatch_log_group.flow[0].arn}:log-stream:*"]
    }]
  })
}

resource "aws_flow_log" "this" {
  count = var.flow_logs_enabled ? 1 : 0

  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
  tags            = var.tags
}

# --- cluster --------------------------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${var.name}: EKS secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndDelegatesThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = local.kms_key_actions
      Resource  = "*" # in a key policy, "*" means this key
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-eks-secrets"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_cloudwatch_log_group" "cluster" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  # EKS writes here; creating it first sets the retention.
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# The EKS service roles take AWS's managed policies: they track what the control plane, EKS Auto Mode's controllers
# (compute, block storage, load balancing, networking) and the nodes need as EKS changes, and grant nothing to
# workloads (pods get their own IRSA role below).
resource "aws_iam_role" "cluster" {
  name = "${var.name}-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  for_each = toset([
    "AmazonEKSClusterPolicy", "AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy",
  ])

  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

# EKS Auto Mode: AWS runs node autoscaling (Karpenter), the load balancer controller (a Service of type LoadBalancer
# gets an NLB), the EBS CSI driver, the VPC CNI with its network policy agent, CoreDNS and kube-proxy, and keeps the
# nodes' AMI patched. The built-in pools carry the add-ons below from the first apply; the Treeport pods go to the
# 4th-gen Xeon NodePool that `treeport deploy eks apply` creates (k8s/eks-auto-mode).
resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_39:The endpoint is private by default; it is public only towards public_access_cidrs, which must name ranges and never 0.0.0.0/0 (variable validation); checkov cannot follow the stack's expression for it.
  name                      = var.name
  version                   = var.kubernetes_version
  role_arn                  = aws_iam_role.cluster.arn
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  # Auto Mode runs the VPC CNI, CoreDNS and kube-proxy itself; self-managed copies would only compete with it.
  bootstrap_self_managed_addons = false
  tags                          = var.tags

  vpc_config {
    # Private subnets only: the control plane's interfaces and (through the built-in NodeClass) the nodes go there.
    # Load balancers find their subnets by the kubernetes.io/role/* tags instead.
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  compute_config {
    enabled       = true
    node_pools    = var.builtin_node_pools
    node_role_arn = aws_iam_role.node.arn
  }

  kubernetes_network_config {
    elastic_load_balancing {
      enabled = true
    }
  }

  storage_config {
    block_storage {
      enabled = true
    }
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_iam_role_policy_attachment.node, aws_cloudwatch_log_group.cluster]
}

# The nodes' role, for the built-in pools and the Treeport NodeClass alike (EKS makes its access entry, with
# AmazonEKSAutoNodePolicy, because compute_config names it). Auto Mode's minimal policies: join the cluster, pull
# images; the CNI's address management is done by Auto Mode's controllers under the cluster role, not by the nodes.
resource "aws_iam_role" "node" {
  name = "${var.name}-node"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.key
  type          = "STANDARD"
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = aws_eks_access_entry.admin

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

module "store" {
  source = "../store_access"

  model_store_uri = var.model_store_uri
  kms_key_arn     = var.model_kms_key_arn
}

# --- IRSA: the pods' role -------------------------------------------------------------------------------------------

# One trust policy per ServiceAccount that gets a role: the Treeport pods, and the CloudWatch agent.
locals {
  irsa_service_accounts = {
    pods             = "system:serviceaccount:${var.service_account_namespace}:${var.service_account_name}"
    cloudwatch_agent = "system:serviceaccount:amazon-cloudwatch:cloudwatch-agent"
  }
  irsa_trust = { for role, subject in local.irsa_service_accounts : role => jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.this.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringEquals = { "${local.oidc_host}:sub" = subject, "${local.oidc_host}:aud" = "sts.amazonaws.com" } }
    }]
  }) }
}

# AWS trusts the EKS OIDC issuer's certificate authority itself, so no thumbprint is pinned.
resource "aws_iam_openid_connect_provider" "this" {
  url            = local.oidc_issuer
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

resource "aws_iam_role" "irsa" {
  name               = "${var.name}-treeport-pods"
  assume_role_policy = local.irsa_trust["pods"]
  tags               = var.tags
}

resource "aws_iam_role_policy" "irsa" {
  name = "${var.name}-read-model-store"
  role = aws_iam_role.irsa.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = module.store.statements
  })
}

# --- add-ons: metrics for the HPA, Container Insights for the alarms -------------------------------------------------

# Auto Mode does not include metrics-server; without it the HPA in k8s/ has no CPU figures and never scales.
resource "aws_eks_addon" "metrics_server" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "metrics-server"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags
}

locals {
  # k8s/base names the Deployment and the Service treeport; Container Insights reports a Deployment's pods under it.
  workload = "treeport"
  # The CloudWatch agent scrapes the pods' metrics listener (the container port named metrics, 9090, on pods with
  # k8s/base's prometheus.io/scrape annotation) and keeps the drift gauge alone, as an embedded-metric-format log that CloudWatch turns into a metric.
  prometheus_scrape = {
    global = { scrape_interval = "1m", scrape_timeout = "10s" }
    scrape_configs = [{
      job_name              = local.workload
      kubernetes_sd_configs = [{ role = "pod", namespaces = { names = [var.service_account_namespace] } }]
      relabel_configs = [
        { source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], action = "keep", regex = local.workload },
        { source_labels = ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], action = "keep", regex = "true" },
        # One target per pod: its port named metrics (the master's listener, TREEPORT_METRICS_BIND), not the API port.
        { source_labels = ["__meta_kubernetes_pod_container_port_name"], action = "keep", regex = "metrics" },
        { source_labels = ["__meta_kubernetes_namespace"], action = "replace", target_label = "Namespace" },
        { source_labels = ["__meta_kubernetes_pod_name"], action = "replace", target_label = "pod_name" },
      ]
    }]
  }
  cloudwatch_agent_config = {
    logs = {
      metrics_collected = {
        kubernetes = { enhanced_container_insights = true }
        prometheus = {
          cluster_name           = var.name
          log_group_name         = "/aws/containerinsights/${var.name}/prometheus"
          prometheus_config_path = "/etc/prometheusconfig/prometheus.yaml"
          emf_processor = {
            metric_namespace = "ContainerInsights/Prometheus"
            metric_declaration = [{
              source_labels    = ["job"]
              label_matcher    = "^${local.workload}$"
              dimensions       = [["ClusterName", "Namespace"]]
              metric_selectors = ["^treeport_drift_psi_max$"]
            }]
          }
        }
      }
    }
  }
  container_insights_log_groups = concat(
    ["application", "dataplane", "host", "performance"], var.drift_alarm_enabled ? ["prometheus"] : []
  )
}

# The CloudWatch agent and Fluent Bit write these; made first, they get a retention (and the key, if one is given).
resource "aws_cloudwatch_log_group" "container_insights" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  for_each = toset(local.container_insights_log_groups)

  name              = "/aws/containerinsights/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "cloudwatch_agent" {
  name               = "${var.name}-cloudwatch-agent"
  assume_role_policy = local.irsa_trust["cloudwatch_agent"]
  tags               = var.tags
}

# AWS's policy for the agent: PutMetricData, its own log groups and streams, and the EC2/EKS reads that name nodes.
resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.cloudwatch_agent.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
}

# Container Insights (enhanced observability): the ContainerInsights metrics the alarms below watch, and with
# drift_alarm_enabled the pods' drift gauge. The agent runs as the cloudwatch-agent ServiceAccount with its own role,
# never with the node's.
resource "aws_eks_addon" "cloudwatch_observability" {
  cluster_name             = aws_eks_cluster.this.name
  addon_name               = "amazon-cloudwatch-observability"
  service_account_role_arn = aws_iam_role.cloudwatch_agent.arn
  configuration_values = var.drift_alarm_enabled ? jsonencode({
    agent = { config = local.cloudwatch_agent_config, prometheus = { config = local.prometheus_scrape } }
  }) : null
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  depends_on = [aws_iam_role_policy_attachment.cloudwatch_agent, aws_cloudwatch_log_group.container_insights]
}

# --- alarms and the dashboard ---------------------------------------------------------------------------------------

# Every alarm notifies this topic (subscribe to it: e-mail, chat, paging).
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

locals {
  pod_dimensions     = { ClusterName = var.name, Namespace = var.service_account_namespace, PodName = local.workload }
  service_dimensions = { ClusterName = var.name, Namespace = var.service_account_namespace, Service = local.workload }
  alarms = merge({
    pod-restarts = {
      namespace  = "ContainerInsights", metric = "pod_number_of_container_restarts", statistic = "Maximum"
      dimensions = local.pod_dimensions, threshold = var.alarm_thresholds.pod_restarts, below = false
      # No figure: no pod reported, which the running-pods alarm covers.
      missing     = "notBreaching"
      description = "Container restarts of the Treeport pods (the liveness probe failing, or the container exiting or running out of memory)."
    }
    running-pods = {
      namespace  = "ContainerInsights", metric = "service_number_of_running_pods", statistic = "Minimum"
      dimensions = local.service_dimensions, threshold = var.alarm_thresholds.min_running_pods, below = true
      # No figure for the Service: no pod runs behind it.
      missing     = "breaching"
      description = "Running pods behind the treeport Service, below the fewest that should serve (the HPA's minimum)."
    }
    pod-cpu = {
      namespace  = "ContainerInsights", metric = "pod_cpu_utilization_over_pod_limit", statistic = "Average"
      dimensions = local.service_dimensions, threshold = var.alarm_thresholds.pod_cpu_percent, below = false
      missing    = "notBreaching", description = "CPU of the Treeport pods as a percentage of their limit, averaged over the Service's pods: the HPA is at its maximum or cannot add pods."
    }
    pod-memory = {
      namespace  = "ContainerInsights", metric = "pod_memory_utilization_over_pod_limit", statistic = "Maximum"
      dimensions = local.service_dimensions, threshold = var.alarm_thresholds.pod_memory_percent, below = false
      missing    = "notBreaching", description = "Memory of the fullest Treeport pod as a percentage of its limit (the OOM killer acts at 100)."
    }
    node-cpu = {
      namespace  = "ContainerInsights", metric = "node_cpu_utilization", statistic = "Average"
      dimensions = { ClusterName = var.name }, threshold = var.alarm_thresholds.node_cpu_percent, below = false
      missing    = "notBreaching", description = "CPU of the cluster's nodes, averaged: the NodePool is at its CPU limit or cannot launch nodes."
    }
    failed-nodes = {
      namespace  = "ContainerInsights", metric = "cluster_failed_node_count", statistic = "Maximum"
      dimensions = { ClusterName = var.name }, threshold = var.alarm_thresholds.failed_nodes, below = false
      missing    = "notBreaching", description = "Nodes with a failing condition (memory, disk or PID pressure, not ready)."
    }
    }, var.drift_alarm_enabled ? {
    drift-psi = {
      namespace  = "ContainerInsights/Prometheus", metric = "treeport_drift_psi_max", statistic = "Maximum"
      dimensions = { ClusterName = var.name, Namespace = var.service_account_namespace }, threshold = var.alarm_thresholds.drift_psi, below = false
      missing    = "notBreaching", description = "Largest population stability index (PSI) of a feature or of the score, served rows against the training baseline: live data no longer looks like the training data."
    }
  } : {})
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = each.value.below ? "LessThanThreshold" : "GreaterThanOrEqualToThreshold"
  treat_missing_data  = each.value.missing
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

locals {
  pod_metric     = ["ClusterName", var.name, "Namespace", var.service_account_namespace, "PodName", local.workload]
  service_metric = ["ClusterName", var.name, "Namespace", var.service_account_namespace, "Service", local.workload]
  dashboard_metrics = merge({
    "Running pods and restarts"       = [concat(["ContainerInsights", "service_number_of_running_pods"], local.service_metric, [{ stat = "Minimum" }]), concat(["ContainerInsights", "pod_number_of_container_restarts"], local.pod_metric, [{ stat = "Maximum", yAxis = "right" }])]
    "Pod CPU and memory (% of limit)" = [concat(["ContainerInsights", "pod_cpu_utilization_over_pod_limit"], local.service_metric, [{ stat = "Average" }]), concat(["ContainerInsights", "pod_memory_utilization_over_pod_limit"], local.service_metric, [{ stat = "Maximum" }])]
    "Nodes: CPU (%) and count"        = [["ContainerInsights", "node_cpu_utilization", "ClusterName", var.name, { stat = "Average" }], ["ContainerInsights", "cluster_node_count", "ClusterName", var.name, { stat = "Maximum", yAxis = "right" }], ["ContainerInsights", "cluster_failed_node_count", "ClusterName", var.name, { stat = "Maximum", yAxis = "right" }]]
    }, var.drift_alarm_enabled ? {
    "Drift: largest PSI" = [["ContainerInsights/Prometheus", "treeport_drift_psi_max", "ClusterName", var.name, "Namespace", var.service_account_namespace, { stat = "Maximum" }]]
  } : {})
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = concat(
      [
        for i, title in keys(local.dashboard_metrics) : {
          type = "metric", x = (i % 2) * 12, y = floor(i / 2) * 6, width = 12, height = 6
          properties = {
            title   = title, region = local.region, view = "timeSeries", period = var.alarm_period_seconds
            metrics = local.dashboard_metrics[title]
          }
        }
      ],
      [{
        type       = "alarm", x = 0, y = 12, width = 24, height = 4
        properties = { title = "Alarms", alarms = [for a in aws_cloudwatch_metric_alarm.this : a.arn] }
      }]
    )
  })
}
