# One reading of a model store URI (s3://bucket/prefix) and the IAM statements that let a serving role read that
# prefix and nothing else. The serverless, SageMaker and EKS modules all call this module, so the parsing and the
# scoping rules live here once.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition

  path   = trimprefix(var.model_store_uri, "s3://")
  parts  = split("/", local.path)
  bucket = local.parts[0]
  prefix = trim(join("/", slice(local.parts, 1, length(local.parts))), "/")

  bucket_arn = "arn:${local.partition}:s3:::${local.bucket}"
  # The prefix itself as an ARN (the bucket's ARN when there is no prefix), and the objects under it.
  store_arn   = local.prefix == "" ? local.bucket_arn : "${local.bucket_arn}/${local.prefix}"
  objects_arn = "${local.store_arn}/*"

  read_statements = [
    {
      Sid      = "ReadModelStore"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = local.objects_arn
    },
    merge(
      {
        Sid      = "ListModelStore"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = local.bucket_arn
      },
      local.prefix == "" ? {} : { Condition = { StringLike = { "s3:prefix" = [local.prefix, "${local.prefix}/*"] } } },
    ),
  ]

  # Only through the services named: the key cannot be used directly, only for their reads (and writes) of the bucket.
  kms_statements = var.kms_key_arn == null ? [] : [{
    Sid       = "UseModelStoreKey"
    Effect    = "Allow"
    Action    = var.kms_actions
    Resource  = var.kms_key_arn
    Condition = { StringEquals = { "kms:ViaService" = [for s in var.kms_via_services : "${s}.${data.aws_region.current.name}.amazonaws.com"] } }
  }]
}
