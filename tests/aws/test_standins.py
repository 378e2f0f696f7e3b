"""The stand-ins themselves: the registry admits only the password moto's token decodes to, and what is pushed to
it shows up in moto's ECR as ECR would list it (same digest, tag and media type)."""

import base64

import docker as docker_sdk
import pytest


def test_registry_login_needs_the_decoded_ecr_token(moto, registry):
    token = moto.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    client = docker_sdk.from_env()
    assert client.login(username=user, password=password, registry=registry.host, reauth=True)
    with pytest.raises(docker_sdk.errors.APIError, match="(?i)unauthorized"):
        client.login(username=user, password=token, registry=registry.host, reauth=True)


def test_a_pushed_manifest_is_listed_by_moto_ecr(moto, registry, tiny_images):
    image_id = tiny_images("stand-in-test:latest", b"hello")
    client = docker_sdk.from_env()
    moto.client("ecr").create_repository(repositoryName="stand-in")
    client.images.get(image_id).tag(f"{registry.host}/stand-in", "v1")
    auth = {"username": "AWS", "password": registry.password}
    stream = list(client.api.push(f"{registry.host}/stand-in", "v1", stream=True, decode=True, auth_config=auth))
    assert not [line for line in stream if "error" in line], stream
    registry.wait_mirrored("stand-in", "v1")
    media_type, digest, _ = registry.manifest("stand-in", "v1")
    [listed] = moto.client("ecr").describe_images(repositoryName="stand-in")["imageDetails"]
    assert (listed["imageDigest"], listed["imageTags"], listed["imageManifestMediaType"]) == (
        digest,
        ["v1"],
        media_type,
    )
    assert media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert registry.tags("stand-in") == ["v1"] and not registry.mirror_errors
