# A store URI becomes a bucket, a prefix and statements that read that prefix and nothing else, however the URI is
# written; anything that is not an S3 bucket/prefix, and any KMS grant broader than decrypt/encrypt, is refused.
# Offline: the AWS provider is mocked.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
}

variables {
  model_store_uri = "s3://treeport-models/team/models"
}

run "a_prefix_scopes_reads_and_listing" {
  command = plan

  assert {
    condition     = output.bucket == "treeport-models" && output.prefix == "team/models"
    error_message = "s3://treeport-models/team/models is bucket treeport-models, prefix team/models."
  }

  assert {
    condition     = one([for s in output.read_statements : s if s.Sid == "ReadModelStore"]).Resource == "arn:aws:s3:::treeport-models/team/models/*"
    error_message = "s3:GetObject must be scoped to the objects under the prefix."
  }

  assert {
    condition = (
      one([for s in output.read_statements : s if s.Sid == "ListModelStore"]).Resource == "arn:aws:s3:::treeport-models" &&
      one([for s in output.read_statements : s if s.Sid == "ListModelStore"]).Condition.StringLike["s3:prefix"] == ["team/models", "team/models/*"]
    )
    error_message = "s3:ListBucket must be limited to the prefix."
  }

  assert {
    condition     = toset(flatten([for s in output.statements : s.Action])) == toset(["s3:GetObject", "s3:ListBucket"])
    error_message = "Without a key, the statements grant reading and listing only."
  }
}

run "slashes_around_the_prefix_do_not_widen_or_break_it" {
  command = plan

  variables {
    model_store_uri = "s3://treeport-models/models/"
  }

  assert {
    condition     = output.prefix == "models" && output.objects_arn == "arn:aws:s3:::treeport-models/models/*"
    error_message = "A trailing slash must not change the prefix."
  }
}

run "a_bare_bucket_reads_the_whole_bucket_without_a_listing_condition" {
  command = plan

  variables {
    model_store_uri = "s3://treeport-models"
  }

  assert {
    condition     = output.prefix == "" && output.objects_arn == "arn:aws:s3:::treeport-models/*"
    error_message = "A store without a prefix is the whole bucket."
  }

  assert {
    condition     = !contains(keys(one([for s in output.read_statements : s if s.Sid == "ListModelStore"])), "Condition")
    error_message = "Listing the whole bucket needs no prefix condition."
  }
}

run "a_key_is_usable_only_through_the_named_services" {
  command = plan

  variables {
    kms_key_arn      = "arn:aws:kms:eu-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    kms_actions      = ["kms:Decrypt", "kms:GenerateDataKey"]
    kms_via_services = ["s3", "sagemaker"]
  }

  assert {
    condition = (
      one(output.kms_statements).Resource == var.kms_key_arn &&
      jsonencode(one(output.kms_statements).Action) == jsonencode(["kms:Decrypt", "kms:GenerateDataKey"]) &&
      jsonencode(one(output.kms_statements).Condition.StringEquals["kms:ViaService"]) == jsonencode(["s3.eu-west-2.amazonaws.com", "sagemaker.eu-west-2.amazonaws.com"])
    )
    error_message = "The key statement names the key, the actions asked for, and only the services named, in this region."
  }

  assert {
    condition     = length(output.statements) == 3
    error_message = "statements is the two read statements and the key's."
  }
}

run "no_key_no_kms_statement" {
  command = plan

  assert {
    condition     = length(output.kms_statements) == 0
    error_message = "Without kms_key_arn there is no KMS statement."
  }
}

run "rejects_a_store_that_is_not_s3" {
  command = plan

  variables {
    model_store_uri = "file:///models"
  }

  expect_failures = [var.model_store_uri]
}

run "rejects_a_wildcard_in_the_prefix" {
  command = plan

  variables {
    model_store_uri = "s3://treeport-models/*"
  }

  expect_failures = [var.model_store_uri]
}

run "rejects_a_broader_key_grant" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    kms_actions = ["kms:*"]
  }

  expect_failures = [var.kms_actions]
}
