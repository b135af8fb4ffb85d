# The provider's settings for every stack (its version is in module_versions.tf). Linked into each stack as
# shared_stack_provider.tf; a stack names itself in local.stack (the Stack tag).

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "treeport", Stack = local.stack, ManagedBy = "terraform" }, var.tags)
  }

  # Only with aws_endpoint_url (a local emulator such as moto_server): every service the stacks call, at one URL.
  s3_use_path_style           = var.aws_endpoint_url != null
  skip_credentials_validation = var.aws_endpoint_url != null
  skip_requesting_account_id  = var.aws_endpoint_url != null
  skip_metadata_api_check     = var.aws_endpoint_url != null

  dynamic "endpoints" {
    for_each = var.aws_endpoint_url == null ? [] : [var.aws_endpoint_url]
    content {
      apigateway             = endpoints.value
      applicationautoscaling = endpoints.value
      cloudwatch             = endpoints.value
      ec2                    = endpoints.value
      ecr                    = endpoints.value
      eks                    = endpoints.value
      iam                    = endpoints.value
      kms                    = endpoints.value
      lambda                 = endpoints.value
      logs                   = endpoints.value
      s3                     = endpoints.value
      sagemaker              = endpoints.value
      sns                    = endpoints.value
      sts                    = endpoints.value
      wafv2                  = endpoints.value
    }
  }
}
