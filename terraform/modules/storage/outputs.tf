output "bucket_name" {
  description = "Name of the model/data bucket (null when create_bucket is false)."
  value       = var.create_bucket ? aws_s3_bucket.this[0].id : null
}

output "bucket_arn" {
  description = "ARN of the model/data bucket (null when create_bucket is false)."
  value       = local.bucket_arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket and the ECR images."
  value       = aws_kms_key.this.arn
}

output "ecr_repository_urls" {
  description = "Repository URL of each ECR repository, by short name (docker push <url>:<tag>)."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "ecr_repository_arns" {
  description = "ARN of each ECR repository, by short name."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}
