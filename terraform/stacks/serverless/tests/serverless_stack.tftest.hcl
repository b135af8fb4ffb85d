# The stack's own interface: what it refuses before anything is planned. Offline: the AWS provider is mocked.

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
}

variables {
  image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/treeport/lambda:0.1.0"
}

run "the_function_is_x86_64_by_default" {
  command = plan

  assert {
    condition     = module.serverless[0].architecture == "x86_64"
    error_message = "The Lambda runs on x86_64 (Intel Xeon, where daal4py is fastest) unless asked otherwise."
  }
}

run "refuses_arm64_with_the_local_backend" {
  command = plan

  variables {
    architecture = "arm64"
  }

  expect_failures = [var.architecture]
}

run "arm64_with_the_sagemaker_backend" {
  command = plan

  variables {
    architecture            = "arm64"
    backend                 = "sagemaker"
    sagemaker_endpoint_name = "treeport-endpoint"
  }

  assert {
    condition     = module.serverless[0].architecture == "arm64"
    error_message = "With SageMaker predicting, the Lambda may run on arm64."
  }
}

run "rejects_an_unknown_backend" {
  command = plan

  variables {
    backend = "gpu"
  }

  expect_failures = [var.backend]
}

run "cognito_without_a_user_pool_is_refused_before_the_first_apply" {
  command = plan

  variables {
    image_uri     = null
    authorization = "cognito"
  }

  expect_failures = [var.authorization]
}

run "iam_auth_reaches_the_module" {
  command = plan

  variables {
    authorization  = "iam"
    waf_rate_limit = 300
  }

  assert {
    condition     = module.serverless[0].authorization == "iam" && output.authorization == "iam"
    error_message = "The stack's authorization must reach the serverless module."
  }
}
