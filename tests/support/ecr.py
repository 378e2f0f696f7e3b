"""What ECR's registry front end authorizes beside the API calls push.py makes (moto and the local registry cannot)."""

# What a Docker push and BuildKit's cache pull ask ECR's registry for: the CodeBuild role must hold these.
REGISTRY_ACTIONS = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
}
