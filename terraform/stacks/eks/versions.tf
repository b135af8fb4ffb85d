terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "treeport", Stack = "eks", ManagedBy = "terraform" }, var.tags)
  }

  # Only with aws_endpoint_url (a local emulator such as moto_server): every service this stack calls, at one URL.
  s3_use_path_style           = var.aws_endpoint_url != null
  skip_credentials_validation = var.aws_endpoint_url != null
  skip_requesting_account_id  = var.aws_endpoint_url != null
  skip_metadata_api_check     = var.aws_endpoint_url != null

  dynamic "endpoints" {
    for_each = var.aws_endpoint_url == null ? [] : [var.aws_endpoint_url]
    content {
      ec2  = endpoints.value
      ecr  = endpoints.value
      eks  = endpoints.value
      iam  = endpoints.value
      kms  = endpoints.value
      logs = endpoints.value
      s3   = endpoints.value
      sts  = endpoints.value
    }
  }
}
