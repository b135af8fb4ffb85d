# The stack's own interface: what it passes to the eks module and what it refuses before anything is planned.
# Offline: the AWS provider is mocked.

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
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/treeport-eks/flow" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:treeport-eks-alarms" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:treeport-eks" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      identity              = [{ oidc = [{ issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }] }]
      certificate_authority = [{ data = "LS0tLS1CRUdJTi..." }]
      endpoint              = "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
    }
  }
}

run "defaults_give_a_private_api_an_internal_nlb_and_a_xeon_node_pool" {
  command = apply

  assert {
    condition     = output.load_balancer_scheme == "internal" && output.cluster_name == "treeport-eks"
    error_message = "The NLB is internal by default."
  }

  assert {
    condition     = output.node_pool.instance_families == tolist(["c7i", "m7i", "r7i"]) && output.node_pool.cpu_limit == 32
    error_message = "The Treeport NodePool is 4th-gen Xeon with a 32 vCPU ceiling by default."
  }

  assert {
    condition     = length(output.alarm_names) == 6 && !output.drift_alarm_enabled && output.dashboard_name == "treeport-eks"
    error_message = "Six Container Insights alarms and the dashboard; no drift scraping unless asked."
  }
}

run "thresholds_given_reach_the_module_and_drift_adds_its_alarm" {
  command = apply

  variables {
    drift_alarm_enabled = true
    node_pool_cpu_limit = 64
    alarm_thresholds    = { pod_restarts = 5, drift_psi = 0.3 }
  }

  assert {
    condition     = contains(output.alarm_names, "treeport-eks-drift-psi") && length(output.alarm_names) == 7 && output.drift_alarm_enabled
    error_message = "The drift alarm joins the others when asked."
  }

  assert {
    condition     = output.node_pool.cpu_limit == 64
    error_message = "node_pool_cpu_limit reaches the NodePool's inputs."
  }
}

run "refuses_families_that_are_not_4th_gen_xeon" {
  command = plan

  variables {
    node_instance_families = ["m6i"]
  }

  expect_failures = [var.node_instance_families]
}

run "refuses_a_kubernetes_api_open_to_everyone" {
  command = plan

  variables {
    public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.public_access_cidrs]
}
