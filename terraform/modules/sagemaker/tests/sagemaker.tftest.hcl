# The endpoint runs our image on a 4th-gen Xeon instance, autoscales on invocations per instance and encrypts its
# volume; its role reads only the model prefix and pulls only its own repository. The pipeline trains with the
# image's `train`, evaluates, gates on a metric and registers. Offline: the AWS provider is mocked.

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
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:treeport-endpoint-alarms" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:treeport-endpoint" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/treeport-endpoint" }
  }
}

variables {
  name            = "treeport-endpoint"
  image_uri       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/serve:0.1.0"
  model_store_uri = "s3://treeport-models/models"
  kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "the_endpoint_serves_our_image_on_xeon_and_autoscales" {
  command = apply

  assert {
    condition     = aws_sagemaker_model.this.primary_container[0].image == var.image_uri
    error_message = "The model runs the given image (SageMaker starts it with `serve`)."
  }

  assert {
    condition = (
      aws_sagemaker_model.this.primary_container[0].environment["TREEPORT_MODEL_STORE"] == "s3://treeport-models/models" &&
      aws_sagemaker_model.this.primary_container[0].environment["TREEPORT_MODEL_NAME"] == "credit-risk" &&
      aws_sagemaker_model.this.primary_container[0].environment["TREEPORT_MODEL_VERSION"] == "LATEST"
    )
    error_message = "The container's environment must name the store, model and version."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].instance_type == "ml.c7i.large"
    error_message = "The default instance type is a 4th-gen Xeon (ml.c7i.large)."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.kms_key_arn == var.kms_key_arn
    error_message = "The endpoint's storage volume must be encrypted with the given key."
  }

  assert {
    condition     = aws_sagemaker_endpoint.this.endpoint_config_name == aws_sagemaker_endpoint_configuration.this.name
    error_message = "The endpoint uses the configuration."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.data_capture_config[0].enable_capture == false
    error_message = "Data capture is off unless asked for (it stores applicants' data)."
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].resource_id == "endpoint/treeport-endpoint/variant/AllTraffic" && aws_appautoscaling_target.this[0].min_capacity == 1 && aws_appautoscaling_target.this[0].max_capacity == 4
    error_message = "The endpoint's variant scales between min_capacity and max_capacity."
  }

  assert {
    condition     = aws_appautoscaling_policy.this[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "SageMakerVariantInvocationsPerInstance"
    error_message = "Scaling tracks invocations per instance."
  }
}

run "the_endpoint_role_reads_only_the_model_prefix_and_pulls_only_its_repository" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : [
        for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")
      ]
    ]))
    error_message = "No statement may allow \"*\" or service:* actions."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s.Resource != "*" if s.Sid != "EcrLogin"
    ])
    error_message = "Only ecr:GetAuthorizationToken (no resource-level permissions) may name every resource."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s if s.Sid == "ReadModelStore"
    ]).Resource == "arn:aws:s3:::treeport-models/models/*"
    error_message = "s3:GetObject must be scoped to the model prefix."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s if s.Sid == "PullOwnImage"
    ]).Resource == "arn:aws:ecr:us-east-1:123456789012:repository/treeport/serve"
    error_message = "Image pulls must be scoped to the image's own repository."
  }

  assert {
    condition = length([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s
      if contains(flatten([s.Action]), "s3:PutObject")
    ]) == 0
    error_message = "The endpoint may not write to the bucket while data capture is off."
  }
}

run "the_pipeline_trains_evaluates_gates_and_registers" {
  command = apply

  assert {
    condition     = [for s in jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps : s.Name] == ["Train", "Evaluate", "CheckGate"]
    error_message = "The pipeline is train -> evaluate -> condition."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.AlgorithmSpecification.TrainingImage == var.image_uri
    error_message = "Training runs our image (SageMaker starts it with `train`)."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.HyperParameters.name == "credit-risk"
    error_message = "The training job names the model (the image's `train` reads the `name` hyperparameter)."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.ResourceConfig.InstanceType == "ml.m7i.xlarge"
    error_message = "Training runs on a 4th-gen Xeon instance."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.EnableNetworkIsolation
    error_message = "The training container needs no network and gets none."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[2].Arguments.Conditions[0].Type == "GreaterThanOrEqualTo"
    error_message = "AUC gates from below."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[2].Arguments.IfSteps[0].Arguments.ModelPackageGroupName == aws_sagemaker_model_package_group.this[0].model_package_group_name
    error_message = "A model that passes the gate is registered in the module's group."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.pipeline[0].policy).Statement : s if s.Sid == "PassOwnRoleToJobs"
    ]).Condition.StringEquals["iam:PassedToService"] == "sagemaker.amazonaws.com"
    error_message = "The pipeline may pass its role to SageMaker jobs only."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.pipeline[0].policy).Statement : [
        for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")
      ]
    ]))
    error_message = "No pipeline statement may allow \"*\" or service:* actions."
  }
}

run "the_training_job_reports_its_test_metrics_to_sagemaker" {
  command = apply

  # The image's `train` prints each test metric as `test:<metric>=<value>` (e.g. test:auc=0.876900).
  assert {
    condition = contains(
      [for d in jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.AlgorithmSpecification.MetricDefinitions : "${d.Name} ${d.Regex}"],
      "test:auc test:auc=([0-9.eE+-]+)",
    )
    error_message = "The training step must define the metric test:auc with the regex README gives."
  }

  assert {
    condition = toset([
      for d in jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.AlgorithmSpecification.MetricDefinitions : d.Name
    ]) == toset(["test:auc", "test:pr_auc", "test:accuracy", "test:logloss", "test:brier", "test:macro_f1", "test:rmse", "test:mae", "test:r2"])
    error_message = "Every metric the gate can use (binary, multiclass and regression) must reach SageMaker."
  }

  assert {
    condition = alltrue([
      for d in jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.AlgorithmSpecification.MetricDefinitions :
      d.Regex == "${d.Name}=([0-9.eE+-]+)"
    ])
    error_message = "Each regex captures the number after its own name and nothing else."
  }
}

run "losses_gate_from_above_and_capture_writes_only_its_prefix" {
  command = apply

  variables {
    gate_metric          = "logloss"
    gate_threshold       = 0.45
    data_capture_enabled = true
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[2].Arguments.Conditions[0].Type == "LessThanOrEqualTo"
    error_message = "A loss gates from above."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.data_capture_config[0].enable_capture && aws_sagemaker_endpoint_configuration.this.data_capture_config[0].kms_key_id == var.kms_key_arn
    error_message = "Captured data is encrypted with the given key."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s if s.Sid == "WriteCapturedData"
    ]).Resource == "arn:aws:s3:::treeport-models/data-capture/treeport-endpoint/*"
    error_message = "Capture may write only under its own prefix."
  }
}

run "no_pipeline_when_not_asked_for" {
  command = plan

  variables {
    create_pipeline = false
  }

  assert {
    condition     = length(aws_sagemaker_pipeline.this) == 0 && length(aws_iam_role.pipeline) == 0
    error_message = "create_pipeline = false creates no pipeline and no pipeline role."
  }
}

run "rejects_instance_types_that_are_not_4th_gen_xeon" {
  command = plan

  variables {
    instance_type = "ml.m5.large"
  }

  expect_failures = [var.instance_type]
}

run "rejects_an_unknown_gate_metric" {
  command = plan

  variables {
    gate_metric = "f1"
  }

  expect_failures = [var.gate_metric]
}

run "rejects_max_capacity_below_min" {
  command = plan

  variables {
    min_capacity = 3
    max_capacity = 2
  }

  expect_failures = [var.max_capacity]
}

run "a_serverless_endpoint_has_no_instances_and_scales_itself" {
  command = apply

  variables {
    endpoint_mode                      = "serverless"
    serverless_memory_mb               = 3072
    serverless_max_concurrency         = 20
    serverless_provisioned_concurrency = 2
  }

  assert {
    condition = (
      aws_sagemaker_endpoint_configuration.this.production_variants[0].serverless_config[0].memory_size_in_mb == 3072 &&
      aws_sagemaker_endpoint_configuration.this.production_variants[0].serverless_config[0].max_concurrency == 20 &&
      aws_sagemaker_endpoint_configuration.this.production_variants[0].serverless_config[0].provisioned_concurrency == 2
    )
    error_message = "The variant is serverless with the memory, max and provisioned concurrency asked for."
  }

  assert {
    condition     = aws_sagemaker_endpoint_configuration.this.production_variants[0].instance_type == null && aws_sagemaker_endpoint_configuration.this.production_variants[0].initial_instance_count == null
    error_message = "A serverless variant names no instance type or count (AWS refuses both together)."
  }

  assert {
    condition     = length(aws_appautoscaling_target.this) == 0 && length(aws_appautoscaling_policy.this) == 0
    error_message = "Instance autoscaling does not apply to a serverless endpoint."
  }

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.data_capture_config) == 0
    error_message = "Serverless endpoints do not support data capture: no block at all."
  }
}

run "a_realtime_endpoint_has_no_serverless_config" {
  command = plan

  assert {
    condition     = length(aws_sagemaker_endpoint_configuration.this.production_variants[0].serverless_config) == 0
    error_message = "The default (realtime) variant runs on instances."
  }
}

run "rejects_serverless_memory_between_the_steps" {
  command = plan

  variables {
    endpoint_mode        = "serverless"
    serverless_memory_mb = 1536
  }

  expect_failures = [var.serverless_memory_mb]
}

run "rejects_serverless_memory_above_6_gb" {
  command = plan

  variables {
    endpoint_mode        = "serverless"
    serverless_memory_mb = 7168
  }

  expect_failures = [var.serverless_memory_mb]
}

run "rejects_max_concurrency_above_200" {
  command = plan

  variables {
    endpoint_mode              = "serverless"
    serverless_max_concurrency = 201
  }

  expect_failures = [var.serverless_max_concurrency]
}

run "rejects_provisioned_concurrency_above_the_max" {
  command = plan

  variables {
    endpoint_mode                      = "serverless"
    serverless_max_concurrency         = 5
    serverless_provisioned_concurrency = 6
  }

  expect_failures = [var.serverless_provisioned_concurrency]
}

run "rejects_provisioned_concurrency_on_a_realtime_endpoint" {
  command = plan

  variables {
    serverless_provisioned_concurrency = 2
  }

  expect_failures = [var.serverless_provisioned_concurrency]
}

run "rejects_data_capture_on_a_serverless_endpoint" {
  command = plan

  variables {
    endpoint_mode        = "serverless"
    data_capture_enabled = true
  }

  expect_failures = [var.endpoint_mode]
}

run "a_model_from_model_data_url_runs_network_isolated" {
  command = plan

  variables {
    model_data_url = "s3://treeport-models/pipelines/treeport-endpoint/training/job-1/output/model.tar.gz"
  }

  assert {
    condition     = aws_sagemaker_model.this.enable_network_isolation
    error_message = "SageMaker copies model.tar.gz in; the container then needs no network at all."
  }

  assert {
    condition     = aws_sagemaker_model.this.primary_container[0].environment["TREEPORT_MODEL_STORE"] == "file:///opt/ml/model"
    error_message = "An isolated container serves the bundle SageMaker unpacked, not the S3 store."
  }
}

run "a_model_reading_the_store_keeps_its_network" {
  command = plan

  assert {
    condition     = !aws_sagemaker_model.this.enable_network_isolation && length(aws_sagemaker_model.this.vpc_config) == 0
    error_message = "Reading the S3 store needs the network; no VPC unless asked."
  }
}

run "the_endpoint_runs_in_private_subnets_with_an_s3_gateway_endpoint" {
  command = plan

  variables {
    vpc_id                     = "vpc-0123456789abcdef0"
    vpc_subnet_ids             = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    vpc_security_group_ids     = ["sg-0cccccccccccccccc"]
    create_s3_gateway_endpoint = true
    vpc_route_table_ids        = ["rtb-0dddddddddddddddd"]
  }

  assert {
    condition = (
      aws_sagemaker_model.this.vpc_config[0].subnets == toset(["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]) &&
      aws_sagemaker_model.this.vpc_config[0].security_group_ids == toset(["sg-0cccccccccccccccc"])
    )
    error_message = "The model's containers run in the given private subnets with the given security groups."
  }

  assert {
    condition = (
      aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" &&
      aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.us-east-1.s3" &&
      aws_vpc_endpoint.s3[0].route_table_ids == toset(["rtb-0dddddddddddddddd"])
    )
    error_message = "An S3 gateway endpoint on the subnets' route tables lets the containers reach S3 without NAT."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_vpc_endpoint.s3[0].policy).Statement : flatten([s.Resource])
    ])) == toset(["arn:aws:s3:::treeport-models", "arn:aws:s3:::treeport-models/*"])
    error_message = "The gateway endpoint admits the model bucket only."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.endpoint.policy).Statement : s if s.Sid == "ManageEndpointNetworkInterfaces"
    ]).Condition.StringEquals["ec2:Vpc"] == "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0"
    error_message = "SageMaker may create and delete network interfaces in this VPC only."
  }
}

run "rejects_subnets_without_security_groups" {
  command = plan

  variables {
    vpc_id         = "vpc-0123456789abcdef0"
    vpc_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa"]
  }

  expect_failures = [var.vpc_security_group_ids]
}

run "rejects_a_gateway_endpoint_without_route_tables" {
  command = plan

  variables {
    vpc_id                     = "vpc-0123456789abcdef0"
    vpc_subnet_ids             = ["subnet-0aaaaaaaaaaaaaaaa"]
    vpc_security_group_ids     = ["sg-0cccccccccccccccc"]
    create_s3_gateway_endpoint = true
  }

  expect_failures = [var.vpc_route_table_ids]
}

run "rejects_a_vpc_on_a_serverless_endpoint" {
  command = plan

  variables {
    endpoint_mode          = "serverless"
    vpc_id                 = "vpc-0123456789abcdef0"
    vpc_subnet_ids         = ["subnet-0aaaaaaaaaaaaaaaa"]
    vpc_security_group_ids = ["sg-0cccccccccccccccc"]
  }

  expect_failures = [var.vpc_subnet_ids]
}

# --- rollouts: blue/green with auto-rollback on the alarms ---------------------------------------------------------

run "a_new_configuration_reaches_two_instances_through_a_one_instance_canary" {
  command = apply

  variables {
    initial_instance_count = 2
    min_capacity           = 2
  }

  assert {
    condition = (
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].type == "CANARY" &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].canary_size[0].type == "INSTANCE_COUNT" &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].canary_size[0].value == 1 &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].wait_interval_in_seconds == 300 &&
      length(aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].linear_step_size) == 0
    )
    error_message = "By default a new configuration goes blue/green through a one-instance canary baked 300 s."
  }

  assert {
    condition     = toset([for a in aws_sagemaker_endpoint.this.deployment_config[0].auto_rollback_configuration[0].alarms : a.alarm_name]) == toset([aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].alarm_name, aws_cloudwatch_metric_alarm.this["model-latency-p99"].alarm_name])
    error_message = "The deployment must roll back when the 5XX or the model latency alarm fires."
  }

  assert {
    condition     = output.rollback_alarm_names == tolist(["treeport-endpoint-invocation-5xx-errors", "treeport-endpoint-model-latency-p99"])
    error_message = "The rollback alarms must be an output."
  }
}

run "one_instance_shifts_all_at_once_and_still_bakes_under_the_alarms" {
  command = apply

  assert {
    condition = (
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].type == "ALL_AT_ONCE" &&
      length(aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].canary_size) == 0 &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].wait_interval_in_seconds == 300 &&
      length(aws_sagemaker_endpoint.this.deployment_config[0].auto_rollback_configuration[0].alarms) == 2
    )
    error_message = "A one-instance endpoint cannot have a canary (at most half the fleet): all at once, baked, with auto-rollback."
  }
}

run "linear_steps_as_asked" {
  command = apply

  variables {
    initial_instance_count = 4
    min_capacity           = 4
    rollout                = { traffic = "LINEAR", size_type = "CAPACITY_PERCENT", size = 25, wait_seconds = 120, termination_wait_seconds = 60, timeout_seconds = 1800 }
  }

  assert {
    condition = (
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].type == "LINEAR" &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].linear_step_size[0].type == "CAPACITY_PERCENT" &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].traffic_routing_configuration[0].linear_step_size[0].value == 25 &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].termination_wait_in_seconds == 60 &&
      aws_sagemaker_endpoint.this.deployment_config[0].blue_green_update_policy[0].maximum_execution_timeout_in_seconds == 1800
    )
    error_message = "A linear rollout steps by its size and keeps the waits and timeout given."
  }
}

run "a_canary_above_half_the_fleet_is_refused" {
  command = plan

  variables {
    initial_instance_count = 4
    min_capacity           = 4
    rollout                = { traffic = "CANARY", size_type = "CAPACITY_PERCENT", size = 60 }
  }

  expect_failures = [var.rollout]
}

run "a_canary_on_one_instance_is_refused" {
  command = plan

  variables {
    rollout = { traffic = "CANARY" }
  }

  expect_failures = [var.rollout]
}

run "a_linear_step_under_ten_percent_is_refused" {
  command = plan

  variables {
    initial_instance_count = 4
    min_capacity           = 4
    rollout                = { traffic = "LINEAR", size_type = "CAPACITY_PERCENT", size = 5 }
  }

  expect_failures = [var.rollout]
}

run "a_timeout_shorter_than_the_waits_is_refused" {
  command = plan

  variables {
    initial_instance_count = 4
    min_capacity           = 4
    # Four steps of 25%: 4 x 300 s of waiting, past the 1000 s timeout.
    rollout = { traffic = "LINEAR", size_type = "CAPACITY_PERCENT", size = 25, wait_seconds = 300, timeout_seconds = 1000 }
  }

  expect_failures = [var.rollout]
}

run "an_unknown_traffic_type_is_refused" {
  command = plan

  variables {
    rollout = { traffic = "ROLLING" }
  }

  expect_failures = [var.rollout]
}

run "a_rollout_on_a_serverless_endpoint_is_refused" {
  command = plan

  variables {
    endpoint_mode = "serverless"
    rollout       = { traffic = "ALL_AT_ONCE" }
  }

  expect_failures = [var.rollout]
}

run "a_serverless_endpoint_gets_no_deployment_guardrails_and_no_cpu_alarm" {
  command = plan

  variables {
    endpoint_mode = "serverless"
  }

  assert {
    condition     = length(aws_sagemaker_endpoint.this.deployment_config) == 0 && length(output.rollback_alarm_names) == 0 && output.rollout == null
    error_message = "A serverless endpoint takes SageMaker's default update: no deployment_config, nothing to roll back on."
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset(["invocation-5xx-errors", "model-latency-p99"])
    error_message = "Serverless endpoints publish no CPUUtilization: no CPU alarm."
  }
}

# --- alarms and the dashboard ---------------------------------------------------------------------------------------

run "alarms_watch_the_variant_and_notify_one_encrypted_topic" {
  command = apply

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 3 && alltrue([for a in aws_cloudwatch_metric_alarm.this : a.dimensions == tomap({ EndpointName = "treeport-endpoint", VariantName = "AllTraffic" }) && a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn]) && a.treat_missing_data == "notBreaching"])
    error_message = "Three alarms on the endpoint's variant, each notifying the topic when it fires and clears; no traffic is not a fault."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].namespace == "AWS/SageMaker" && aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].metric_name == "Invocation5XXErrors" && aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].statistic == "Sum" && aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].threshold == 5
    error_message = "Invocation5XXErrors must alarm on its sum (5 per period by default)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["model-latency-p99"].metric_name == "ModelLatency" && aws_cloudwatch_metric_alarm.this["model-latency-p99"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["model-latency-p99"].statistic == null && aws_cloudwatch_metric_alarm.this["model-latency-p99"].threshold == 250000
    error_message = "ModelLatency p99 must alarm at 250 ms, in the microseconds SageMaker publishes."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["cpu-utilization"].namespace == "/aws/sagemaker/Endpoints" && aws_cloudwatch_metric_alarm.this["cpu-utilization"].metric_name == "CPUUtilization" && aws_cloudwatch_metric_alarm.this["cpu-utilization"].threshold == 160
    error_message = "CPUUtilization (summed over vCPUs) must alarm at 80% of each of ml.c7i.large's two vCPUs."
  }

  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == "alias/aws/sns" && output.alarm_topic_arn == aws_sns_topic.alarms.arn
    error_message = "The alarm topic must be encrypted and be an output."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 4 && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "Invocation5XXErrors") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "ModelLatency") && strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "CPUUtilization") && output.dashboard_name == "treeport-endpoint"
    error_message = "One dashboard with invocations, errors, latency, CPU and memory, and the alarms."
  }
}

run "alarm_thresholds_are_variables" {
  command = plan

  variables {
    instance_type    = "ml.m7i.4xlarge"
    alarm_thresholds = { model_latency_p99_ms = 50, cpu_utilization_percent = 50 }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["model-latency-p99"].threshold == 50000 && aws_cloudwatch_metric_alarm.this["cpu-utilization"].threshold == 800 && aws_cloudwatch_metric_alarm.this["invocation-5xx-errors"].threshold == 5
    error_message = "Given thresholds are used (latency in microseconds, CPU times 16 vCPUs), the others keep their defaults."
  }
}

run "a_cpu_share_above_100_percent_is_refused" {
  command = plan

  variables {
    alarm_thresholds = { cpu_utilization_percent = 150 }
  }

  expect_failures = [var.alarm_thresholds]
}

# --- the pipeline's gate is the training job's only gate -----------------------------------------------------------

run "the_training_step_applies_the_pipelines_gate" {
  command = apply

  variables {
    gate_metric    = "logloss"
    gate_threshold = 0.45
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.HyperParameters.gate_logloss == { "Std:Join" = { On = "", Values = [{ Get = "Parameters.GateThreshold" }] } }
    error_message = "The training job must get the pipeline's GateThreshold parameter as gate_<gate_metric> (joined into a string)."
  }

  assert {
    condition     = jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.HyperParameters.default_gate == "false" && !contains(keys(jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[0].Arguments.HyperParameters), "gate_auc")
    error_message = "The image's default thresholds must stay out: the pipeline's gate is the only one."
  }

  assert {
    condition     = one([for p in jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Parameters : p.DefaultValue if p.Name == "GateThreshold"]) == 0.45 && jsondecode(aws_sagemaker_pipeline.this[0].pipeline_definition).Steps[2].Arguments.Conditions[0].RightValue == { Get = "Parameters.GateThreshold" }
    error_message = "The condition step checks the same parameter the training job applies."
  }
}

run "a_gate_among_the_hyperparameters_is_refused" {
  command = plan

  variables {
    hyperparameters = { gate_auc = "0.9" }
  }

  expect_failures = [var.hyperparameters]
}

run "a_new_model_version_is_a_new_model_beside_the_old" {
  command = plan

  variables {
    model_data_url = "s3://treeport-models/pipelines/treeport-endpoint/training/job-2/output/model.tar.gz"
  }

  # The first run of this file served the store's LATEST; this configuration serves an artifact.
  assert {
    condition     = aws_sagemaker_model.this.name != run.the_endpoint_serves_our_image_on_xeon_and_autoscales.model_name && startswith(aws_sagemaker_model.this.name, "treeport-endpoint-") && length(aws_sagemaker_model.this.name) <= 63
    error_message = "Another model version must get a model of its own name (created before the old one goes), so the endpoint can move to it blue/green."
  }

  assert {
    condition     = output.model_data_url == var.model_data_url && aws_sagemaker_model.this.primary_container[0].model_data_url == var.model_data_url
    error_message = "The pinned artifact is what the model serves, and an output."
  }
}
