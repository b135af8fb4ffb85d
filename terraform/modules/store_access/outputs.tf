output "bucket" {
  description = "Bucket of the store."
  value       = local.bucket
}

output "prefix" {
  description = "Prefix of the store inside the bucket, without slashes at either end (\"\" for the whole bucket)."
  value       = local.prefix
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = local.bucket_arn
}

output "objects_arn" {
  description = "ARN pattern of the objects under the prefix (arn:aws:s3:::bucket/prefix/*)."
  value       = local.objects_arn
}

output "read_statements" {
  description = "IAM statements ReadModelStore (s3:GetObject under the prefix) and ListModelStore (s3:ListBucket limited to the prefix)."
  value       = local.read_statements
}

output "kms_statements" {
  description = "The UseModelStoreKey statement on kms_key_arn, through kms_via_services only; empty when kms_key_arn is null."
  value       = local.kms_statements
}

output "statements" {
  description = "read_statements followed by kms_statements: everything a role needs to read the store."
  value       = concat(local.read_statements, local.kms_statements)
}
