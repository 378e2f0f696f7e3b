"""scripts/push.py for real, against the stand-ins (tests/aws/standins.py): moto's ECR and STS, and a registry that
only takes the password moto's token decodes to. The images' bytes go to that registry (--registry-host); every URI
reported stays the canonical ECR one. Each failure the script promises a sentence for is brought about for real."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import docker as docker_sdk
import pytest

from tests.aws.standins import free_port, wait_until
from tests.support.containers import ServeContainer, docker
from tests.support.ecr import REGISTRY_ACTIONS
from tests.support.fake_sagemaker import train_small_model
from tests.support.repo import REPO, load_script

PUSH = REPO / "scripts" / "push.py"
V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ENV_DROPPED = ("AWS_", "DOCKER_HOST", "IMAGE_PREFIX", "GIT_")


def run_push(*args, env=None, timeout=600):
    """push.py in a process of its own: this environment less AWS_*, GIT_*, DOCKER_HOST and IMAGE_PREFIX, plus env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROPPED)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(PUSH), *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    result.seconds = time.monotonic() - started
    return result


def cpu_images_push(registry, output):
    """push.py's arguments for the CPU training image and the serving image, to the stand-in registry."""
    images = ("--images", "train,serve", "--train-variant", "cpu")
    return (*images, "--registry-host", registry.host, "--output", str(output))


def assert_fails(result, sentence):
    """Exit status 1 and the failure as one line `push: ...` on stderr (changing calls made before it are logged
    above it)."""
    failures = [line for line in result.stderr.splitlines() if line.startswith("push:")]
    assert result.returncode == 1 and len(failures) == 1, result.stdout + result.stderr
    assert failures[0].startswith(f"push: {sentence}"), failures[0]
    assert result.stderr.endswith(failures[0] + "\n") and "Traceback" not in result.stderr
    print(failures[0])


def ecr_state(moto):
    """Every repository with its images (digest -> sorted tags)."""
    ecr = moto.client("ecr")
    return {
        r["repositoryName"]: {
            i["imageDigest"]: sorted(i.get("imageTags", []))
            for i in ecr.describe_images(repositoryName=r["repositoryName"])["imageDetails"]
        }
        for r in ecr.describe_repositories()["repositories"]
    }


def registry_state(registry):
    return {repository: registry.tags(repository) for repository in registry.repositories()}


def predict(container, headlines):
    request = urllib.request.Request(
        container.url("/invocations"),
        method="POST",
        data=json.dumps({"instances": headlines}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"]


def test_push_pull_by_digest_serve_and_push_again_as_a_no_op(
    moto, registry, checkout, cpu_image, serve_image, tmp_path
):
    output = tmp_path / "images.json"
    command = cpu_images_push(registry, output)
    env = {**moto.env, **checkout.env}
    first = run_push(*command, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    pushed = json.loads(output.read_text())
    canonical = f"{moto.account}.dkr.ecr.{moto.region}.amazonaws.com"
    assert (pushed["schema"], pushed["account"], pushed["region"], pushed["commit"], pushed["version"]) == (
        1,
        moto.account,
        moto.region,
        checkout.commit,
        checkout.version,
    )
    assert sorted(pushed["images"]) == ["serve", "train-cpu"]
    tags = [f"{checkout.tag}-cpu", f"{checkout.version}-cpu"]
    for key, repository in (("train-cpu", "headlines-train"), ("serve", "headlines-serve")):
        image = pushed["images"][key]
        assert image["uri"] == f"{canonical}/{repository}@{image['digest']}" and image["registry"] == canonical
        assert image["tags"] == tags and image["tag_uris"] == [f"{canonical}/{repository}:{tag}" for tag in tags]
        assert image["pushed"] and image["media_type"] == V2_MANIFEST and image["accelerator"] == "cpu"
        assert f"{key}: pushed {image['uri']} tags {','.join(tags)} (" in first.stdout
        # What the registry got is one single-platform Docker v2 schema 2 manifest under that digest.
        media_type, digest, body = registry.manifest(repository, image["digest"])
        assert (media_type, digest) == (V2_MANIFEST, image["digest"])
        local_id = docker("image", "inspect", "-f", "{{.Id}}", image["local"]).stdout.strip()
        assert json.loads(body)["config"]["digest"] == local_id
        assert registry.tags(repository) == sorted(tags)
        for tag in tags:
            registry.wait_mirrored(repository, tag)
    ecr = moto.client("ecr")
    for repository in ecr.describe_repositories()["repositories"]:
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert ecr.get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"]
    before = ecr_state(moto), registry_state(registry)
    assert before[0]["headlines-serve"] == {pushed["images"]["serve"]["digest"]: sorted(tags)}

    # The serving image, pulled back by the digest in the JSON, serves a model.
    serve_ref = f"{registry.host}/headlines-serve@{pushed['images']['serve']['digest']}"
    client = docker_sdk.from_env()
    client.api.pull(serve_ref, auth_config={"username": "AWS", "password": registry.password})
    container = ServeContainer(serve_ref, train_small_model(tmp_path / "model"))
    try:
        container.start().wait_ready()
        [prediction] = predict(container, ["Stocks rally as inflation cools"])
        assert prediction["label"] in {"b", "t", "e", "m"} and 0 < prediction["probability"] <= 1
    finally:
        container.remove()
        docker("rmi", serve_ref, check=False)  # the pulled reference only: the image keeps its own tag

    second = run_push(*command, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(output.read_text())["images"] == {
        key: dict(image, pushed=False) for key, image in pushed["images"].items()
    }
    assert second.stdout.count(": already there ") == 2 and "(no-op: every repository and tag" in second.stdout
    assert second.stderr == ""  # no changing call at all: no login, no tag, no push, no repository change
    assert (ecr_state(moto), registry_state(registry)) == before
    print(
        f"first push {first.seconds:.1f} s, second {second.seconds:.1f} s; digests "
        + ", ".join(f"{key}={image['digest']}" for key, image in pushed["images"].items())
    )


def test_dry_run_lists_every_call_and_changes_nothing(moto, registry, checkout, cpu_image, serve_image, tmp_path):
    output = tmp_path / "images.json"
    result = run_push(
        *cpu_images_push(registry, output),
        "--pull-account",
        "210987654321",
        "--cache",
        "--dry-run",
        env={**moto.env, **checkout.env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [line.split("(")[0] for line in result.stdout.splitlines() if line.startswith(("call ", "would call "))]
    for repository in ("headlines-train", "headlines-serve"):
        assert f'would call ecr.CreateRepository(repositoryName="{repository}"' in result.stdout
    assert set(calls) == {
        "call sts.GetCallerIdentity",
        "call docker.inspect_image",
        "call ecr.DescribeRepositories",
        "call ecr.BatchGetImage",
        "would call ecr.CreateRepository",
        "would call ecr.PutLifecyclePolicy",
        "would call ecr.SetRepositoryPolicy",
        "would call ecr.GetAuthorizationToken",
        "would call docker.login",
        "would call docker.tag",
        "would call docker.push",
        "would call docker.remove_image",
    }
    assert f'would call docker.push("{registry.host}/headlines-serve", tag="{checkout.tag}-cpu"' in result.stdout
    assert 'tag="cache-serve"' in result.stdout and 'tag="cache-train-cpu"' in result.stdout
    assert result.stdout.count("would call ecr.GetAuthorizationToken") == 1
    assert f"would write {output}" in result.stdout and not output.exists()
    assert ecr_state(moto) == {} and registry.repositories() == []
    assert registry.host not in docker("images", "--format", "{{.Repository}}").stdout


def test_cache_tags_move_and_stay_out_of_the_json(moto, registry, checkout, tiny_images, prefix, tmp_path):
    image_id = tiny_images(f"{prefix}-serve:cpu", b"serving image")
    tiny_images(f"{prefix}-serve:cpu-build-env", b"build stage")
    output = tmp_path / "images.json"
    env = {**moto.env, **checkout.env, "IMAGE_PREFIX": prefix}
    command = ("--images", "serve", "--registry-host", registry.host, "--output", str(output), "--cache")
    assert run_push(*command, env=env).returncode == 0
    assert registry.tags("headlines-serve") == sorted(
        [f"{checkout.tag}-cpu", f"{checkout.version}-cpu", "cache-serve", "cache-serve-build-env"]
    )
    assert json.loads(output.read_text())["images"]["serve"]["tags"] == [
        f"{checkout.tag}-cpu",
        f"{checkout.version}-cpu",
    ]
    first_stage_digest = registry.manifest("headlines-serve", "cache-serve-build-env")[1]
    registry.wait_mirrored("headlines-serve", "cache-serve-build-env")
    registry.wait_mirrored("headlines-serve", "cache-serve")

    tiny_images(f"{prefix}-serve:cpu-build-env", b"build stage, changed")  # the cache tag moves; commit tags stay
    result = run_push(*command, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    pushes = [line for line in result.stderr.splitlines() if line.startswith("docker.push(")]
    assert len(pushes) == 1 and 'tag="cache-serve-build-env"' in pushes[0]
    assert registry.manifest("headlines-serve", "cache-serve-build-env")[1] != first_stage_digest
    assert json.loads(registry.manifest("headlines-serve", f"{checkout.tag}-cpu")[2])["config"]["digest"] == image_id


def test_the_graviton_serving_image_goes_beside_the_x86_one_under_its_own_tag(
    moto, registry, checkout, tiny_images, prefix, tmp_path
):
    tiny_images(f"{prefix}-serve:cpu", b"x86 serving image")
    arm64_id = tiny_images(f"{prefix}-serve:cpu-arm64", b"arm64 serving image", architecture="arm64")
    env = {**moto.env, **checkout.env, "IMAGE_PREFIX": prefix}
    both = ("--images", "serve", "--serve-architecture", "both", "--registry-host", registry.host)
    output = tmp_path / "images.json"
    result = run_push(*both, "--output", str(output), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    variants = ("cpu", "cpu-arm64")
    assert registry.tags("headlines-serve") == sorted(
        f"{t}-{v}" for t in (checkout.tag, checkout.version) for v in variants
    )
    records = json.loads(output.read_text())["images"]
    assert {key: record["architecture"] for key, record in records.items()} == {
        "serve": "amd64",
        "serve-arm64": "arm64",
    }
    assert records["serve-arm64"]["tags"] == [f"{checkout.tag}-cpu-arm64", f"{checkout.version}-cpu-arm64"]
    pushed = json.loads(registry.manifest("headlines-serve", f"{checkout.tag}-cpu-arm64")[2])
    assert pushed["config"]["digest"] == arm64_id

    tiny_images(f"{prefix}-serve:cpu-arm64", b"built for x86 by mistake")  # under the arm64 image's name
    refused = run_push(*both, "--output", str(tmp_path / "again.json"), env=env)
    assert_fails(refused, f"{prefix}-serve:cpu-arm64 is built for amd64, not arm64")
    assert not (tmp_path / "again.json").exists()


def test_a_different_image_under_the_commit_tag_is_refused(moto, registry, checkout, tiny_images, prefix, tmp_path):
    first_id = tiny_images(f"{prefix}-serve:cpu", b"first build")
    env = {**moto.env, **checkout.env, "IMAGE_PREFIX": prefix}
    command = ("--images", "serve", "--registry-host", registry.host, "--output", str(tmp_path / "images.json"))
    assert run_push(*command, env=env).returncode == 0
    registry.wait_mirrored("headlines-serve", f"{checkout.tag}-cpu")
    before = ecr_state(moto), registry_state(registry)

    second_id = tiny_images(f"{prefix}-serve:cpu", b"another build of the same commit")
    result = run_push(*command, env=env)
    held = f"{moto.account}.dkr.ecr.{moto.region}.amazonaws.com/headlines-serve:{checkout.tag}-cpu"
    assert_fails(
        result,
        f"{held} already holds a different image (config {first_id}, local {prefix}-serve:cpu is "
        f"{second_id}) and commit tags are immutable",
    )
    assert (ecr_state(moto), registry_state(registry)) == before


def test_a_dirty_tree_is_refused_unless_allowed(moto, checkout, serve_image, tmp_path):
    dirty = tmp_path / "dirty"
    subprocess.run(["git", "clone", "-q", "--shared", str(checkout.path), str(dirty)], check=True)
    (dirty / "README.md").write_text("an edit not committed\n")
    env = {**moto.env, "GIT_DIR": str(dirty / ".git"), "GIT_WORK_TREE": str(dirty)}
    assert_fails(
        run_push("--images", "serve", "--dry-run", env=env),
        "the git tree has uncommitted changes (1 paths, e.g. README.md)",
    )
    allowed = run_push("--images", "serve", "--dry-run", "--allow-dirty", env=env)
    assert allowed.returncode == 0, allowed.stderr


def test_no_credentials(moto, checkout, serve_image):
    env = {k: v for k, v in moto.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    assert_fails(run_push("--images", "serve", env={**env, **checkout.env}), "no AWS credentials found")


def test_no_docker_engine(moto, checkout, tmp_path):
    closed = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as s:  # a socket file nobody listens on
        s.bind(str(closed))
    result = run_push("--images", "serve", env={**moto.env, **checkout.env, "DOCKER_HOST": f"unix://{closed}"})
    assert_fails(result, f"no Docker engine answers at unix://{closed}")


def test_image_missing_locally(moto, checkout, docker_engine, prefix):
    result = run_push("--images", "serve", env={**moto.env, **checkout.env, "IMAGE_PREFIX": prefix})
    assert_fails(
        result,
        f"image missing locally: {prefix}-serve:cpu is not in the Docker engine; build it with "
        "scripts/build-images.sh serve",
    )
    assert ecr_state(moto) == {}


def test_image_over_its_budget(moto, checkout, gpu_image, prefix):
    """The 4 GB GPU image under the serving image's name: over the serving budget."""
    docker("tag", gpu_image, f"{prefix}-serve:cpu")
    try:
        result = run_push("--images", "serve", env={**moto.env, **checkout.env, "IMAGE_PREFIX": prefix})
    finally:
        docker("rmi", f"{prefix}-serve:cpu")  # the extra name only
    assert_fails(result, f"{prefix}-serve:cpu is ")
    budget = load_script("images").IMAGES["serve"].budget_bytes
    assert f"GB, over its budget of {budget / 1e9:.2f} GB" in result.stderr and ecr_state(moto) == {}


def test_registry_unreachable(moto, registry, checkout, tiny_images, prefix):
    tiny_images(f"{prefix}-serve:cpu", b"serving image")
    registry.stop()
    result = run_push(
        "--images", "serve", "--registry-host", registry.host, env={**moto.env, **checkout.env, "IMAGE_PREFIX": prefix}
    )
    assert_fails(result, "registry unreachable while logging in to the registry with the ECR token")


# --- IAM enforced: a moto server of its own that evaluates identity policies -----------------------------------

ALLOW_ALL_BUT_CREATE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ecr:Describe*", "ecr:Get*", "ecr:BatchGetImage", "ecr:List*"], "Resource": "*"}
    ],
}
DENY_REPOSITORY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecr:SetRepositoryPolicy", "Resource": "*"},
    ],
}
# The CodeBuild service role's policy as documented, for an account of moto's and repositories `least-*`.
CODEBUILD_POLICY = (
    (REPO / "docs" / "iam" / "codebuild-service-role.json")
    .read_text()
    .replace("REGION", "us-east-1")
    .replace("ACCOUNT", "123456789012")
    .replace("PROJECT", "headlines")
    .replace("ARTIFACT_BUCKET", "artifacts")
    .replace("REPOSITORY_PREFIX", "least")
)
# moto authorizes ECR calls against the resource "*" (ECRResponse has no _determine_resource), so the repository
# ARNs are widened for moto: what it checks is the actions.
MOTO_CODEBUILD_POLICY = {
    **json.loads(CODEBUILD_POLICY),
    "Statement": [{**statement, "Resource": "*"} for statement in json.loads(CODEBUILD_POLICY)["Statement"]],
}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
IAM_USERS = {
    "cannot-create": ALLOW_ALL_BUT_CREATE,
    "cannot-set-policy": DENY_REPOSITORY_POLICY,
    "codebuild": MOTO_CODEBUILD_POLICY,
    "admin": ADMIN,
}
ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory):
    """{user: environment}: moto with IAM enforcement after the setup calls, and one user per policy above."""
    import boto3

    port = free_port()
    setup_calls = 3 * len(IAM_USERS)  # create_user, put_user_policy, create_access_key each
    recording = tmp_path_factory.mktemp("iam-moto") / "recording.jsonl"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={
            **os.environ,
            "INITIAL_NO_AUTH_ACTION_COUNT": str(setup_calls),
            "MOTO_ENABLE_RECORDING": "true",
            "MOTO_RECORDER_FILEPATH": str(recording),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).status == 200
        except OSError:
            return False

    try:
        wait_until(answers, 30, "moto server with IAM enforcement answering")
        config = tmp_path_factory.mktemp("iam-aws-config") / "empty"
        config.write_text("")
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        users = {}
        for user, policy in IAM_USERS.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="push", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            users[user] = {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                "AWS_CONFIG_FILE": str(config),
                "AWS_SHARED_CREDENTIALS_FILE": str(config),
            }
        users["recording"] = recording
        yield users
    finally:
        server.terminate()
        server.wait(10)


def test_access_denied(iam_moto, checkout, serve_image):
    result = run_push(
        "--images", "serve", "--repository-prefix", "denied", env={**iam_moto["cannot-create"], **checkout.env}
    )
    assert_fails(
        result,
        "access denied: these credentials may not call ecr:CreateRepository; allow it in their IAM "
        "policy (User: arn:aws:iam::123456789012:user/cannot-create is not authorized",
    )


def test_repository_policy_refused(iam_moto, checkout, serve_image):
    result = run_push(
        "--images",
        "serve",
        "--pull-policy",
        "--repository-prefix",
        "refused",
        env={**iam_moto["cannot-set-policy"], **checkout.env},
    )
    assert_fails(
        result,
        "the repository policy was refused (AccessDenied: User: "
        "arn:aws:iam::123456789012:user/cannot-set-policy is not authorized to perform: "
        "ecr:SetRepositoryPolicy",
    )
    assert "ecr.CreateRepository(" in result.stderr and "docker.push" not in result.stderr


def ecr_actions_recorded(recording, access_key):
    """The ECR actions moto's recorder saw signed with this access key."""
    actions = set()
    for line in recording.read_text().splitlines():
        headers = json.loads(line).get("headers", {})
        target = headers.get("X-Amz-Target", "")
        if target.startswith(ECR_TARGET_PREFIX) and access_key in headers.get("Authorization", ""):
            actions.add("ecr:" + target[len(ECR_TARGET_PREFIX) :])
    return actions


def test_the_documented_codebuild_policy_is_enough_and_no_more(
    iam_moto, registry, checkout, tiny_images, prefix, tmp_path
):
    """A push under exactly docs/iam/codebuild-service-role.json, with buildspec.yml's options (no --pull-policy: the
    role may not set repository policies): creating the repositories, then correcting every setting an
    administrator changed; and every ECR action the policy grants is one the push or pull uses."""
    import boto3

    tiny_images(f"{prefix}-serve:cpu", b"least privilege")
    env = {**iam_moto["codebuild"], **checkout.env, "IMAGE_PREFIX": prefix}
    command = (
        "--images",
        "serve",
        "--repository-prefix",
        "least",
        "--registry-host",
        registry.host,
        "--output",
        str(tmp_path / "images.json"),
    )
    first = run_push(*command, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    admin = iam_moto["admin"]
    ecr = boto3.client(
        "ecr",
        endpoint_url=admin["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"],
    )
    ecr.put_image_scanning_configuration(repositoryName="least-serve", imageScanningConfiguration={"scanOnPush": False})
    ecr.put_image_tag_mutability(repositoryName="least-serve", imageTagMutability="MUTABLE")
    ecr.put_lifecycle_policy(
        repositoryName="least-serve",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    second = run_push(*command, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    for call in ("PutImageScanningConfiguration", "PutImageTagMutability", "PutLifecyclePolicy"):
        assert f"ecr.{call}(" in second.stderr

    granted = {
        action
        for statement in json.loads(CODEBUILD_POLICY)["Statement"]
        for action in statement["Action"]
        if action.startswith("ecr:")
    }
    used = ecr_actions_recorded(iam_moto["recording"], env["AWS_ACCESS_KEY_ID"])
    assert used <= granted  # (the runs above also prove it: moto enforced the policy)
    assert granted == used | REGISTRY_ACTIONS, f"granted but never used: {granted - used - REGISTRY_ACTIONS}"
