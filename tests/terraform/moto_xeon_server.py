"""Run moto_server with two gaps filled that the Terraform stacks run into; everything else is moto's own.

1. SageMaker: moto checks endpoint instance types against a list that predates the 7th-generation families, so a
   real `ml.c7i.large` endpoint configuration is refused. The check is widened to accept ml.c7i/m7i/r7i.
2. Application Auto Scaling: moto has no ListTagsForResource/TagResource/UntagResource, which the AWS provider calls
   for every scalable target (a 500 it retries until it times out). They are added, keeping tags per target ARN.
3. SageMaker: moto has no DeleteModelPackageGroup, so `terraform destroy` retries it until it times out. It is added.

    python moto_xeon_server.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker.responses import SageMakerResponse
from moto.server import main

XEON_4TH_GEN = re.compile(r"^ml\.(c7i|m7i|r7i)\.(large|[0-9]*xlarge)$")
SCALABLE_TARGET_TAGS: dict[str, dict[str, str]] = {}


def _accept_xeon_instance_types() -> None:
    original = sagemaker_models.FakeEndpointConfig.validate_instance_type

    def validate_instance_type(self: Any, instance_type: str) -> None:
        if XEON_4TH_GEN.match(instance_type):
            return
        original(self, instance_type)

    sagemaker_models.FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]


def _tag_scalable_targets() -> None:
    register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self: Any) -> str:
        body = register(self)
        tags = self._get_param("Tags") or {}
        SCALABLE_TARGET_TAGS.setdefault(json.loads(body)["ScalableTargetARN"], {}).update(tags)
        return body

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": SCALABLE_TARGET_TAGS.get(self._get_param("ResourceARN"), {})})

    def tag_resource(self: Any) -> str:
        SCALABLE_TARGET_TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self: Any) -> str:
        tags = SCALABLE_TARGET_TAGS.get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return "{}"

    cls: Any = ApplicationAutoScalingResponse
    cls.register_scalable_target = register_scalable_target
    cls.list_tags_for_resource = list_tags_for_resource
    cls.tag_resource = tag_resource
    cls.untag_resource = untag_resource


def _delete_model_package_groups() -> None:
    def delete_model_package_group(self: Any) -> str:
        self.sagemaker_backend.model_package_groups.pop(self._get_param("ModelPackageGroupName"), None)
        return "{}"

    cls: Any = SageMakerResponse
    cls.delete_model_package_group = delete_model_package_group


if __name__ == "__main__":
    _accept_xeon_instance_types()
    _tag_scalable_targets()
    _delete_model_package_groups()
    main(sys.argv[1:])
