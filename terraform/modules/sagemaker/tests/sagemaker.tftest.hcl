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
