# A SageMaker real-time endpoint running the project's image (`serve`: gunicorn on 8080 answering /ping and
# /invocations), autoscaled on invocations per instance, and the training pipeline that runs the same image's
# `train`, evaluates the bundle, gates on a test metric and registers the model.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  arn_prefix = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}"

  # The bucket of the store; the pipeline's data and outputs and the captured data live beside the store in it.
  store_bucket = module.store.bucket
  bucket_arn   = module.store.bucket_arn

  # Everything else this module reads or writes lives beside the store, under its own prefix of the same bucket.
  data_prefix     = "data/${var.model_name}"
  pipeline_prefix = "pipelines/${var.name}"
  capture_prefix  = "data-capture/${var.name}"

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest] -> the repository's ARN
  image_parts    = regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.image_uri)
  repository_arn = "arn:${local.partition}:ecr:${local.image_parts[1]}:${local.image_parts[0]}:repository/${local.image_parts[2]}"

  serverless         = var.endpoint_mode == "serverless"
  network_isolation  = var.model_data_url != null && !local.serverless
  in_vpc             = length(var.vpc_subnet_ids) > 0
  variant_name       = "AllTraffic"
  endpoint_log_group = "/aws/sagemaker/Endpoints/${var.name}"
  group_name         = "${var.name}-models"

  ecr_pull_statements = [
    {
      Sid      = "PullOwnImage"
      Effect   = "Allow"
      Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      Resource = local.repository_arn
    },
    {
      # GetAuthorizationToken has no resource-level permissions; the token alone reaches no repository.
      Sid      = "EcrLogin"
      Effect   = "Allow"
      Action   = ["ecr:GetAuthorizationToken"]
      Resource = "*"
    },
  ]

  endpoint_statements = concat(
    local.ecr_pull_statements,
    module.store.statements,
    [
      {
        Sid      = "WriteEndpointLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
        Resource = [aws_cloudwatch_log_group.this.arn, "${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
      },
    ],
    var.model_data_url == null ? [] : [{
      Sid      = "ReadModelArtifact"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = "arn:${local.partition}:s3:::${trimprefix(var.model_data_url, "s3://")}"
    }],
    # What SageMaker does with the endpoint's role to attach the containers to the VPC: network interfaces in this
    # VPC only; the Describe calls have no resource-level permissions.
    !local.in_vpc ? [] : [{
      Sid       = "ManageEndpointNetworkInterfaces"
      Effect    = "Allow"
      Action    = ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"]
      Resource  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:*"
      Condition = { StringEquals = { "ec2:Vpc" = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/${coalesce(var.vpc_id, "none")}" } }
    }],
    !local.in_vpc ? [] : [{
      Sid      = "DescribeEndpointNetwork"
      Effect   = "Allow"
      Action   = ["ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
      Resource = "*"
    }],
    !var.data_capture_enabled ? [] : [{
      Sid      = "WriteCapturedData"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = "${local.bucket_arn}/${local.capture_prefix}/*"
    }],
  )

  environment = var.model_data_url == null ? {
    TREEPORT_MODEL_STORE   = var.model_store_uri
    TREEPORT_MODEL_NAME    = var.model_name
    TREEPORT_MODEL_VERSION = var.model_version
    TREEPORT_BACKEND       = "daal4py"
    } : {
    # SageMaker unpacks model.tar.gz (a store holding the trained bundle) into /opt/ml/model.
    TREEPORT_MODEL_STORE   = "file:///opt/ml/model"
    TREEPORT_MODEL_NAME    = var.model_name
    TREEPORT_MODEL_VERSION = var.model_version
    TREEPORT_BACKEND       = "daal4py"
  }
}

# The endpoint reads the store; with the bucket's key the endpoint and the pipeline also encrypt what they write
# beside it (captured data, pipeline outputs), through S3 or SageMaker only.
module "store" {
  source = "../store_access"

  model_store_uri  = var.model_store_uri
  kms_key_arn      = var.kms_key_arn
  kms_actions      = ["kms:Decrypt", "kms:GenerateDataKey"]
  kms_via_services = ["s3", "sagemaker"]
}

# --- the endpoint ---------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer-managed key is opt-in through log_kms_key_arn.
  name              = local.endpoint_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "endpoint" {
  name = "${var.name}-endpoint"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "sagemaker.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "endpoint" {
  name   = "${var.name}-endpoint"
  role   = aws_iam_role.endpoint.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.endpoint_statements })
}

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:Isolation is on whenever the model comes from model_data_url; a container reading the S3 model store needs the network (and serverless endpoints refuse isolation).
  # A model cannot change in place: a new image or model version is a new model, created (under a name of its own)
  # before the old one goes, so the endpoint can move to it blue/green.
  name               = "${var.name}-${substr(sha1(jsonencode([var.image_uri, var.model_data_url, local.environment, local.network_isolation, var.vpc_subnet_ids, var.vpc_security_group_ids])), 0, 8)}"
  execution_role_arn = aws_iam_role.endpoint.arn
  tags               = var.tags
  # From model_data_url SageMaker copies the bundle in and the container needs no network at all; reading the
  # model store it needs S3. Serverless endpoints do not support isolation.
  enable_network_isolation = local.network_isolation

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnets            = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  # SageMaker starts the container as `docker run <image> serve`: gunicorn on port 8080, /ping and /invocations.
  primary_container {
    image          = var.image_uri
    mode           = "SingleModel"
    model_data_url = var.model_data_url
    environment    = local.environment
  }

  depends_on = [aws_iam_role_policy.endpoint]

  lifecycle {
    create_before_destroy = true
  }
}

# S3 without NAT for containers in private subnets, admitting the model bucket only (the store, the pipeline's
# outputs and captured data all live in it).
resource "aws_vpc_endpoint" "s3" {
  count = var.create_s3_gateway_endpoint ? 1 : 0

  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.vpc_route_table_ids
  tags              = merge(var.tags, { Name = "${var.name}-s3" })

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ModelBucketOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
    }]
  })
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name_prefix = "${var.name}-"
  # The key encrypts the storage volume of the endpoint's instances; a serverless variant has no instance of its own.
  kms_key_arn = local.serverless ? null : var.kms_key_arn
  tags        = var.tags

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.this.name
    instance_type          = local.serverless ? null : var.instance_type
    initial_instance_count = local.serverless ? null : var.initial_instance_count
    initial_variant_weight = 1

    dynamic "serverless_config" {
      for_each = local.serverless ? [1] : []
      content {
        memory_size_in_mb       = var.serverless_memory_mb
        max_concurrency         = var.serverless_max_concurrency
        provisioned_concurrency = var.serverless_provisioned_concurrency > 0 ? var.serverless_provisioned_concurrency : null
      }
    }
  }

  # Written on real-time endpoints whether on or off (switched by enable_capture: a configuration read back from
  # SageMaker carries the block either way); serverless endpoints do not support data capture.
  dynamic "data_capture_config" {
    for_each = local.serverless ? [] : [1]
    content {
      enable_capture              = var.data_capture_enabled
      initial_sampling_percentage = var.data_capture_percentage
      destination_s3_uri          = "s3://${local.store_bucket}/${local.capture_prefix}"
      kms_key_id                  = var.kms_key_arn

      capture_options {
        capture_mode = "Input"
      }
      capture_options {
        capture_mode = "Output"
      }

      capture_content_type_header {
        csv_content_types  = ["text/csv"]
        json_content_types = ["application/json"]
      }
    }
  }

  # A configuration is immutable: a change makes a new one, the endpoint moves to it, then the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

# A new configuration (a new model version, image or size) reaches the endpoint blue/green: SageMaker starts a new
# fleet beside the old one, shifts traffic to it (a canary, linear steps, or all at once) and bakes; if an alarm in
# auto_rollback_configuration fires meanwhile, all traffic goes back to the old fleet and the update fails. Serverless
# endpoints get none of this (see local.rollout_enabled): SageMaker's own default applies there.
resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = var.tags

  dynamic "deployment_config" {
    for_each = local.rollout_enabled ? [local.rollout] : []
    content {
      blue_green_update_policy {
        termination_wait_in_seconds          = deployment_config.value.termination_wait_seconds
        maximum_execution_timeout_in_seconds = deployment_config.value.timeout_seconds

        traffic_routing_configuration {
          type                     = deployment_config.value.traffic
          wait_interval_in_seconds = deployment_config.value.wait_seconds

          dynamic "canary_size" {
            for_each = deployment_config.value.traffic == "CANARY" ? [1] : []
            content {
              type  = deployment_config.value.size_type
              value = deployment_config.value.size
            }
          }

          dynamic "linear_step_size" {
            for_each = deployment_config.value.traffic == "LINEAR" ? [1] : []
            content {
              type  = deployment_config.value.size_type
              value = deployment_config.value.size
            }
          }
        }
      }

      auto_rollback_configuration {
        dynamic "alarms" {
          for_each = local.rollback_alarms
          content {
            alarm_name = aws_cloudwatch_metric_alarm.this[alarms.value].alarm_name
          }
        }
      }
    }
  }
}

locals {
  # Deployment guardrails are for instance-backed endpoints: AWS excludes serverless endpoints from rolling updates
  # and sizes canaries and linear steps in instances (or shares of them), which a serverless variant does not have.
  rollout_enabled = !local.serverless
  # Without a rollout given: a one-instance canary where there are at least two instances (AWS caps a canary at
  # half the fleet), else all at once; either way five minutes of baking under the alarms.
  rollout = var.rollout != null ? var.rollout : {
    traffic                  = var.initial_instance_count >= 2 ? "CANARY" : "ALL_AT_ONCE"
    size_type                = "INSTANCE_COUNT"
    size                     = 1
    wait_seconds             = 300
    termination_wait_seconds = 0
    timeout_seconds          = 3600
  }
}

# --- alarms and the dashboard ---------------------------------------------------------------------------------------

# Every alarm notifies this topic (subscribe to it); the endpoint's blue/green deployments roll back when one of
# rollback_alarms fires while traffic shifts or bakes.
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

locals {
  variant_dimensions = { EndpointName = var.name, VariantName = local.variant_name }
  # CPUUtilization sums every core's (0 to 100% per vCPU); the threshold is a per-vCPU share times the vCPUs.
  instance_vcpus = {
    large      = 2, xlarge = 4, "2xlarge" = 8, "4xlarge" = 16, "8xlarge" = 32, "12xlarge" = 48, "16xlarge" = 64,
    "24xlarge" = 96, "48xlarge" = 192
  }
  vcpus = local.instance_vcpus[split(".", var.instance_type)[2]]
  alarms = merge(
    {
      invocation-5xx-errors = {
        namespace   = "AWS/SageMaker", metric = "Invocation5XXErrors", statistic = "Sum", extended = null
        threshold   = var.alarm_thresholds.invocation_5xx_errors
        description = "Invocations the model container answered 5XX (or failed), per period."
      }
      model-latency-p99 = {
        # ModelLatency is in microseconds.
        namespace   = "AWS/SageMaker", metric = "ModelLatency", statistic = null, extended = "p99"
        threshold   = var.alarm_thresholds.model_latency_p99_ms * 1000
        description = "p99 of the model container's latency, in microseconds (${var.alarm_thresholds.model_latency_p99_ms} ms)."
      }
    },
    # Serverless endpoints publish no CPUUtilization.
    local.serverless ? {} : {
      cpu-utilization = {
        namespace   = "/aws/sagemaker/Endpoints", metric = "CPUUtilization", statistic = "Average", extended = null
        threshold   = var.alarm_thresholds.cpu_utilization_percent * local.vcpus
        description = "CPU of the variant's instances, summed over ${local.vcpus} vCPUs: ${var.alarm_thresholds.cpu_utilization_percent}% of each."
      }
    },
  )
  # What a bad model version shows within minutes; CPU follows load more than the version.
  rollback_alarms = ["invocation-5xx-errors", "model-latency-p99"]
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = local.variant_dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # No traffic is no evidence of a fault.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
  tags               = var.tags
}

locals {
  variant_metric = ["EndpointName", var.name, "VariantName", local.variant_name]
  dashboard_metrics = {
    "Invocations and errors" = [
      concat(["AWS/SageMaker", "Invocations"], local.variant_metric, [{ stat = "Sum" }]),
      concat(["AWS/SageMaker", "Invocation5XXErrors"], local.variant_metric, [{ stat = "Sum" }]),
      concat(["AWS/SageMaker", "Invocation4XXErrors"], local.variant_metric, [{ stat = "Sum" }]),
    ]
    "Model and overhead latency p99 (microseconds)" = [
      concat(["AWS/SageMaker", "ModelLatency"], local.variant_metric, [{ stat = "p99" }]),
      concat(["AWS/SageMaker", "OverheadLatency"], local.variant_metric, [{ stat = "p99" }]),
    ]
    "CPU and memory (%)" = [
      concat(["/aws/sagemaker/Endpoints", "CPUUtilization"], local.variant_metric, [{ stat = "Average" }]),
      concat(["/aws/sagemaker/Endpoints", "MemoryUtilization"], local.variant_metric, [{ stat = "Average" }]),
    ]
  }
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
        type       = "alarm", x = 12, y = 6, width = 12, height = 6
        properties = { title = "Alarms", alarms = [for a in aws_cloudwatch_metric_alarm.this : a.arn] }
      }]
    )
  })
}

# Instances scale on invocations per instance; a serverless endpoint scales itself up to its max concurrency.
resource "aws_appautoscaling_target" "this" {
  count = local.serverless ? 0 : 1

  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "this" {
  count = local.serverless ? 0 : 1

  name               = "${var.name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = var.scale_in_cooldown
    scale_out_cooldown = var.scale_out_cooldown

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}

# Autoscaling became optional (none on serverless endpoints): existing real-time endpoints keep their target/policy.
moved {
  from = aws_appautoscaling_target.this
  to   = aws_appautoscaling_target.this[0]
}

moved {
  from = aws_appautoscaling_policy.this
  to   = aws_appautoscaling_policy.this[0]
}

# --- the training pipeline ------------------------------------------------------------------------------------------

resource "aws_iam_role" "pipeline" {
  count = var.create_pipeline ? 1 : 0

  name = "${var.name}-pipeline"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "sagemaker.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "pipeline" {
  count = var.create_pipeline ? 1 : 0

  name = "${var.name}-pipeline"
  role = aws_iam_role.pipeline[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      local.ecr_pull_statements,
      module.store.kms_statements,
      [
        {
          # Jobs a pipeline starts are named pipelines-<execution>-<step>-<suffix>.
          Sid    = "RunPipelineJobs"
          Effect = "Allow"
          Action = [
            "sagemaker:AddTags", "sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeProcessingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopProcessingJob",
            "sagemaker:StopTrainingJob",
          ]
          Resource = ["${local.arn_prefix}:training-job/pipelines-*", "${local.arn_prefix}:processing-job/pipelines-*"]
        },
        {
          # SageMaker ARNs carry resource names in lower case.
          Sid      = "RegisterModels"
          Effect   = "Allow"
          Action   = ["sagemaker:AddTags", "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"]
          Resource = ["${local.arn_prefix}:model-package/${lower(local.group_name)}/*", "${local.arn_prefix}:model-package-group/${lower(local.group_name)}"]
        },
        {
          Sid       = "PassOwnRoleToJobs"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = aws_iam_role.pipeline[0].arn
          Condition = { StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" } }
        },
        {
          Sid      = "ReadTrainingData"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = "${local.bucket_arn}/${local.data_prefix}/*"
        },
        {
          Sid      = "ReadWritePipelineOutputs"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject"]
          Resource = "${local.bucket_arn}/${local.pipeline_prefix}/*"
        },
        {
          Sid       = "ListOwnPrefixes"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = local.bucket_arn
          Condition = { StringLike = { "s3:prefix" = ["${local.data_prefix}/*", "${local.pipeline_prefix}/*"] } }
        },
        {
          Sid    = "WriteJobLogs"
          Effect = "Allow"
          Action = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
          Resource = [
            "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs",
            "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*",
            "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/ProcessingJobs",
            "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/ProcessingJobs:log-stream:*",
          ]
        },
      ],
    )
  })
}

resource "aws_sagemaker_model_package_group" "this" {
  count = var.create_pipeline ? 1 : 0

  model_package_group_name        = local.group_name
  model_package_group_description = "Treeport ${var.model_name} bundles trained by the ${var.name} pipeline"
  tags                            = var.tags
}

locals {
  # The test metrics the image's `train` can compute, each printed as `test:<metric>=<value>`; SageMaker reads them
  # off the job's log through the training step's metric definitions. gate_metric must be one of them.
  test_metrics       = ["auc", "pr_auc", "accuracy", "logloss", "brier", "macro_f1", "rmse", "mae", "r2"]
  metric_definitions = [for m in local.test_metrics : { Name = "test:${m}", Regex = "test:${m}=([0-9.eE+-]+)" }]
  lower_is_better    = contains(["logloss", "brier", "rmse", "mae"], var.gate_metric)
  output_uri         = "s3://${local.store_bucket}/${local.pipeline_prefix}"

  # Reads the bundle's manifest out of the training job's model.tar.gz and writes its test metrics where the
  # condition step reads them (a SageMaker property file).
  evaluate_script = join("\n", [
    "import glob, json, os, tarfile",
    "tarfile.open(glob.glob('/opt/ml/processing/model/*.tar.gz')[0]).extractall('/tmp/model', filter='data')",
    "manifest = json.load(open(sorted(glob.glob('/tmp/model/**/manifest.json', recursive=True))[-1]))",
    "os.makedirs('/opt/ml/processing/evaluation', exist_ok=True)",
    "report = {'name': manifest['name'], 'version': manifest['version'], 'metrics': manifest['metrics']}",
    "json.dump(report, open('/opt/ml/processing/evaluation/evaluation.json', 'w'))",
  ])

  pipeline_definition = {
    Version  = "2020-12-01"
    Metadata = {}
    Parameters = [
      { Name = "TrainingData", Type = "String", DefaultValue = "s3://${local.store_bucket}/${local.data_prefix}/" },
      { Name = "GateThreshold", Type = "Float", DefaultValue = var.gate_threshold },
      { Name = "ModelApprovalStatus", Type = "String", DefaultValue = var.model_approval_status },
    ]
    Steps = [
      {
        Name = "Train"
        Type = "Training"
        Arguments = {
          # SageMaker runs `docker run <image> train`: channels under /opt/ml/input/data, string hyperparameters,
          # the bundle written to /opt/ml/model and uploaded as model.tar.gz.
          AlgorithmSpecification = {
            TrainingImage     = var.image_uri
            TrainingInputMode = "File"
            MetricDefinitions = local.metric_definitions
          }
          RoleArn = try(aws_iam_role.pipeline[0].arn, null)
          # The pipeline's gate is the container's only gate: its metric and threshold (the GateThreshold parameter,
          # joined into the string SageMaker passes), and default_gate = false so the image's default thresholds
          # stay out. The condition step below checks the same number on the evaluation report.
          HyperParameters = merge({ name = var.model_name }, var.hyperparameters, {
            "gate_${var.gate_metric}" = { "Std:Join" = { On = "", Values = [{ Get = "Parameters.GateThreshold" }] } }
            default_gate              = "false"
          })
          InputDataConfig = [{
            ChannelName = "train"
            ContentType = "text/csv"
            DataSource = { S3DataSource = {
              S3DataType             = "S3Prefix"
              S3Uri                  = { Get = "Parameters.TrainingData" }
              S3DataDistributionType = "FullyReplicated"
            } }
          }]
          OutputDataConfig = merge(
            { S3OutputPath = "${local.output_uri}/training" },
            var.kms_key_arn == null ? {} : { KmsKeyId = var.kms_key_arn },
          )
          ResourceConfig = merge(
            { InstanceCount = 1, InstanceType = var.training_instance_type, VolumeSizeInGB = var.training_volume_gb },
            var.kms_key_arn == null ? {} : { VolumeKmsKeyId = var.kms_key_arn },
          )
          StoppingCondition = { MaxRuntimeInSeconds = var.training_max_runtime_seconds }
          # The training container needs no network: SageMaker copies the channels in and the model out.
          EnableNetworkIsolation                = true
          EnableInterContainerTrafficEncryption = true
        }
      },
      {
        Name = "Evaluate"
        Type = "Processing"
        Arguments = {
          AppSpecification = { ImageUri = var.image_uri, ContainerEntrypoint = ["python", "-c", local.evaluate_script] }
          RoleArn          = try(aws_iam_role.pipeline[0].arn, null)
          ProcessingResources = { ClusterConfig = merge(
            { InstanceCount = 1, InstanceType = var.training_instance_type, VolumeSizeInGB = var.training_volume_gb },
            var.kms_key_arn == null ? {} : { VolumeKmsKeyId = var.kms_key_arn },
          ) }
          NetworkConfig = { EnableNetworkIsolation = true, EnableInterContainerTrafficEncryption = true }
          ProcessingInputs = [{
            InputName  = "model"
            AppManaged = false
            S3Input = {
              S3Uri                  = { Get = "Steps.Train.ModelArtifacts.S3ModelArtifacts" }
              LocalPath              = "/opt/ml/processing/model"
              S3DataType             = "S3Prefix"
              S3InputMode            = "File"
              S3DataDistributionType = "FullyReplicated"
            }
          }]
          ProcessingOutputConfig = merge(
            { Outputs = [{
              OutputName = "evaluation"
              AppManaged = false
              S3Output = {
                S3Uri        = "${local.output_uri}/evaluation"
                LocalPath    = "/opt/ml/processing/evaluation"
                S3UploadMode = "EndOfJob"
              }
            }] },
            var.kms_key_arn == null ? {} : { KmsKeyId = var.kms_key_arn },
          )
          StoppingCondition = { MaxRuntimeInSeconds = 3600 }
        }
        PropertyFiles = [{ PropertyFileName = "Evaluation", OutputName = "evaluation", FilePath = "evaluation.json" }]
      },
      {
        Name = "CheckGate"
        Type = "Condition"
        Arguments = {
          Conditions = [{
            Type = local.lower_is_better ? "LessThanOrEqualTo" : "GreaterThanOrEqualTo"
            LeftValue = { "Std:JsonGet" = {
              PropertyFile = { Get = "Steps.Evaluate.PropertyFiles.Evaluation" }
              Path         = "metrics.${var.gate_metric}"
            } }
            RightValue = { Get = "Parameters.GateThreshold" }
          }]
          IfSteps = [{
            Name = "Register"
            Type = "RegisterModel"
            Arguments = {
              ModelPackageGroupName = local.group_name
              ModelApprovalStatus   = { Get = "Parameters.ModelApprovalStatus" }
              InferenceSpecification = {
                Containers = [{
                  Image        = var.image_uri
                  ModelDataUrl = { Get = "Steps.Train.ModelArtifacts.S3ModelArtifacts" }
                  Environment = {
                    TREEPORT_MODEL_STORE = "file:///opt/ml/model"
                    TREEPORT_MODEL_NAME  = var.model_name
                  }
                }]
                SupportedContentTypes                   = ["application/json", "text/csv"]
                SupportedResponseMIMETypes              = ["application/json"]
                SupportedRealtimeInferenceInstanceTypes = [var.instance_type]
                SupportedTransformInstanceTypes         = [var.training_instance_type]
              }
              ModelMetrics = { ModelQuality = { Statistics = {
                ContentType = "application/json"
                S3Uri       = "${local.output_uri}/evaluation/evaluation.json"
              } } }
            }
          }]
          ElseSteps = [{
            Name      = "GateFailed"
            Type      = "Fail"
            Arguments = { ErrorMessage = "The model's test ${var.gate_metric} missed the gate; nothing was registered." }
          }]
        }
      },
    ]
  }
}

resource "aws_sagemaker_pipeline" "this" {
  count = var.create_pipeline ? 1 : 0

  pipeline_name         = "${var.name}-training"
  pipeline_display_name = "${var.name}-training"
  pipeline_description  = "Train ${var.model_name} with the Treeport image, evaluate, gate on ${var.gate_metric}, register"
  role_arn              = aws_iam_role.pipeline[0].arn
  pipeline_definition   = jsonencode(local.pipeline_definition)
  tags                  = var.tags

  depends_on = [aws_iam_role_policy.pipeline]
}
