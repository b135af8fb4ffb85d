# The model bucket is private, KMS-encrypted, versioned and TLS-only; the ECR repositories scan on push, keep tags
# immutable and expire old images. Offline: the AWS provider is mocked.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::treeport-models-test" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
}

variables {
  name_prefix      = "treeport"
  bucket_name      = "treeport-models-test"
  ecr_repositories = ["serve", "lambda"]
}

run "bucket_is_private_encrypted_versioned_and_tls_only" {
  command = apply

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this[0].block_public_acls,
      aws_s3_bucket_public_access_block.this[0].block_public_policy,
      aws_s3_bucket_public_access_block.this[0].ignore_public_acls,
      aws_s3_bucket_public_access_block.this[0].restrict_public_buckets,
    ])
    error_message = "Every public access block setting must be on."
  }

  assert {
    condition     = aws_s3_bucket_ownership_controls.this[0].rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
    error_message = "The bucket must be encrypted with KMS."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this.arn
    error_message = "The bucket must be encrypted with the module's own key."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The KMS key must rotate."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this[0].versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be on."
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this[0].rule[0].noncurrent_version_expiration[0].noncurrent_days == 90
    error_message = "Old versions must expire after noncurrent_version_days."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "The bucket policy must deny requests without TLS."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s.Effect == "Deny"])
    error_message = "The bucket policy must only deny; access is granted by the serving roles."
  }

  assert {
    condition     = alltrue([for a in jsondecode(aws_kms_key.this.policy).Statement[0].Action : a != "*" && !endswith(a, ":*")])
    error_message = "The key policy must list its actions, not kms:*."
  }
}

run "ecr_repositories_scan_on_push_are_immutable_and_expire_old_images" {
  command = apply

  assert {
    condition     = toset(keys(aws_ecr_repository.this)) == toset(["serve", "lambda"])
    error_message = "One repository per name."
  }

  assert {
    condition     = aws_ecr_repository.this["serve"].name == "treeport/serve"
    error_message = "Repositories are named <name_prefix>/<name>."
  }

  assert {
    condition = alltrue([
      for r in aws_ecr_repository.this :
      r.image_tag_mutability == "IMMUTABLE" && r.image_scanning_configuration[0].scan_on_push && r.encryption_configuration[0].encryption_type == "KMS"
    ])
    error_message = "Every repository must have immutable tags, scan on push and KMS encryption."
  }

  assert {
    condition     = alltrue([for p in aws_ecr_lifecycle_policy.this : length(jsondecode(p.policy).rules) == 2])
    error_message = "Every repository must expire untagged and old images."
  }
}

run "no_bucket_when_the_store_lives_elsewhere" {
  command = plan

  variables {
    create_bucket = false
    bucket_name   = null
  }

  assert {
    condition     = length(aws_s3_bucket.this) == 0 && length(aws_s3_bucket_policy.this) == 0
    error_message = "No bucket is created when create_bucket is false."
  }

  assert {
    condition     = length(aws_ecr_repository.this) == 2
    error_message = "The ECR repositories are still created."
  }
}

run "a_bucket_needs_a_name" {
  command = plan

  variables {
    bucket_name = null
  }

  expect_failures = [aws_s3_bucket.this]
}

run "rejects_an_invalid_bucket_name" {
  command = plan

  variables {
    bucket_name = "Not_A_Bucket"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_an_invalid_repository_name" {
  command = plan

  variables {
    ecr_repositories = ["Serve!"]
  }

  expect_failures = [var.ecr_repositories]
}
