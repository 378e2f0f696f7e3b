"""scripts/push.py without Docker or a registry: the image table, tags, account/region resolution, repository
settings and the tag bookkeeping against moto's in-process ECR, the push stream and manifest checks, the dry-run
call log and the one-sentence failures. tests/aws/test_push_to_ecr.py pushes for real."""

import base64
import json
import subprocess

import botocore.exceptions
import docker
import pytest
import requests
from moto import mock_aws

from tests.support.ecr import REGISTRY_ACTIONS
from tests.support.repo import REPO, load_script

images = load_script("images")
push = load_script("push")

ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
LOCAL_ID = "sha256:" + "1" * 64
OTHER_ID = "sha256:" + "2" * 64
PUSHED_DIGEST = "sha256:" + "d" * 64


# --- the image table ----------------------------------------------------------------------------------------


def test_image_table_matches_the_build_targets_and_the_serverless_cap(monkeypatch):
    build_script = (REPO / "scripts" / "build-images.sh").read_text()
    for image in images.IMAGES.values():
        assert image.key in build_script and (REPO / image.dockerfile).is_file()
        assert image.budget_bytes < images.SERVERLESS_CAP_BYTES
    monkeypatch.delenv("IMAGE_PREFIX", raising=False)
    serve, train_gpu = images.IMAGES["serve"], images.IMAGES["train-gpu"]
    assert (serve.local(), serve.repository(), serve.accelerator) == ("headlines-serve:cpu", "headlines-serve", "cpu")
    assert train_gpu.stage("build-env") == "headlines-train:gpu-build-env"
    monkeypatch.setenv("IMAGE_PREFIX", "mine")
    assert serve.local() == "mine-serve:cpu" and serve.repository("team") == "team-serve"


def test_image_table_prints_for_shell_scripts(monkeypatch, capsys):
    monkeypatch.delenv("IMAGE_PREFIX", raising=False)
    assert images.main(["train-cpu"]) == 0
    assert capsys.readouterr().out.split("\t") == [
        "train-cpu",
        "headlines-train:cpu",
        "headlines-train",
        "cpu",
        "containers/train/Dockerfile",
        "VARIANT=cpu",
        "1200000000",
        "amd64\n",
    ]
    assert images.main(["nope"]) == 2 and "unknown image nope" in capsys.readouterr().err


# --- what is pushed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "families,variant,keys",
    [
        (["train", "serve"], "gpu", ["train-gpu", "serve"]),
        (["train", "serve"], "both", ["train-gpu", "train-cpu", "serve"]),
        (["train"], "cpu", ["train-cpu"]),
        (["serve"], "both", ["serve"]),
    ],
)
def test_selected_images(families, variant, keys):
    assert [image.key for image in push.selected_images(families, variant)] == keys


def test_tags_are_the_commit_and_the_version_per_accelerator():
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert push.image_tags(commit, None, "gpu") == ["0123456789ab-gpu"]
    assert push.image_tags(commit, "v1.2.0", "cpu") == ["0123456789ab-cpu", "v1.2.0-cpu"]
    assert push.image_tags(commit, "release/1.0+rc", "cpu")[1] == "release-1.0-rc-cpu"


def _git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def test_source_state_refuses_a_dirty_tree_and_reads_an_exact_tag(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "a")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(tmp_path))
    commit, version = push.source_state(allow_dirty=False)
    assert len(commit) == 40 and version is None
    _git(tmp_path, "tag", "v2.0.0")
    assert push.source_state(allow_dirty=False) == (commit, "v2.0.0")
    (tmp_path / "a.txt").write_text("changed")
    with pytest.raises(push.PushError, match=r"uncommitted changes \(1 paths, e.g. a.txt\).*--allow-dirty"):
        push.source_state(allow_dirty=False)
    assert push.source_state(allow_dirty=True) == (commit, "v2.0.0")


# --- account and region ---------------------------------------------------------------------------------------


@pytest.fixture
def aws_env(tmp_path, monkeypatch):
    """Credentials for moto's in-process mock and no developer profile."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ECR",
        "AWS_ENDPOINT_URL_STS",
    ):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    config.write_text("[profile other]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("[other]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return monkeypatch


@pytest.fixture
def mock_ecr(aws_env):
    """moto's in-process ECR and STS, in us-east-1, for the whole test."""
    aws_env.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        yield aws_env


def _args(*argv):
    return push.parser().parse_args(list(argv))


def test_region_comes_from_the_argument_then_the_environment_then_the_profile(aws_env):
    assert push.aws_session(_args("--profile", "other"))[1] == "eu-central-1"
    aws_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert push.aws_session(_args("--profile", "other"))[1] == "eu-west-1"
    aws_env.setenv("AWS_REGION", "us-west-2")
    assert push.aws_session(_args("--profile", "other"))[1] == "us-west-2"
    assert push.aws_session(_args("--profile", "other", "--region", "ap-south-1"))[1] == "ap-south-1"
    aws_env.delenv("AWS_REGION")
    aws_env.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(push.PushError, match="no AWS region"):
        push.aws_session(_args())


def test_account_comes_from_the_argument_else_sts(mock_ecr, capsys):
    session, region = push.aws_session(_args())
    assert push.account_id(push.Calls(), session, region, None) == ACCOUNT
    assert push.account_id(push.Calls(dry_run=True), session, region, "210987654321") == "210987654321"
    assert capsys.readouterr().out == ""  # no STS call when the account is given
    assert push.ecr_registry("210987654321", "cn-north-1") == "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_login_password_prints_the_decoded_password_alone(mock_ecr, capsys):
    assert push.main(["--login-password"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{ACCOUNT}-auth-token\n"
    assert "auth-token" not in captured.err
    assert push.decode_token(base64.b64encode(b"AWS:pa:ss").decode()) == ("AWS", "pa:ss")


# --- repository settings against moto's ECR -------------------------------------------------------------------


def _pusher(calls, api=None, host=REGISTRY):
    import boto3

    return push.Pusher(calls, api, boto3.client("ecr", region_name="us-east-1"), REGISTRY, host, "headlines")


def test_a_missing_repository_is_created_with_every_setting(mock_ecr, capsys):
    pusher = _pusher(push.Calls())
    pusher.ensure_repository("headlines-serve", 7, push.pull_policy(ACCOUNT, ["210987654321"]))
    [repository] = pusher.ecr.describe_repositories()["repositories"]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "cache-*"}]
    rules = json.loads(pusher.ecr.get_lifecycle_policy(repositoryName="headlines-serve")["lifecyclePolicyText"])
    assert [rule["selection"]["tagStatus"] for rule in rules["rules"]] == ["untagged", "tagged"]
    assert rules["rules"][1]["selection"]["countNumber"] == 7
    policy = json.loads(pusher.ecr.get_repository_policy(repositoryName="headlines-serve")["policyText"])
    assert policy["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT, "210987654321"]}}
    assert policy["Statement"][1]["Principal"] == {"AWS": ["arn:aws:iam::210987654321:root"]}
    assert "ecr:BatchGetImage" in policy["Statement"][0]["Action"]
    assert capsys.readouterr().err.splitlines()[0].startswith('ecr.CreateRepository(repositoryName="headlines-serve"')


def test_sagemaker_pulls_only_for_this_account_and_the_pull_accounts():
    """The service principal's statement carries aws:SourceAccount (AWS's confused-deputy guard): without it any
    SageMaker customer who knows the URI could have SageMaker pull the image into their own job or model."""
    [alone] = push.pull_policy(ACCOUNT, [])["Statement"]
    assert alone["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert alone["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT]}}
    sagemaker, accounts = push.pull_policy(ACCOUNT, ["210987654321", ACCOUNT])["Statement"]
    # SageMaker acts for the account that owns the job or model: a pull account's CreateModel is allowed too.
    assert sagemaker["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT, "210987654321"]}}
    assert "Condition" not in accounts  # an IAM principal of those accounts is named, not a service acting for one


def test_an_existing_repository_is_corrected_and_then_left_alone(mock_ecr, capsys):
    calls = push.Calls()
    pusher = _pusher(calls)
    pusher.ecr.create_repository(repositoryName="headlines-train", imageTagMutability="MUTABLE")
    pusher.ensure_repository("headlines-train", 30, None)
    assert calls.changes == ["ecr.PutImageScanningConfiguration", "ecr.PutImageTagMutability", "ecr.PutLifecyclePolicy"]
    [repository] = pusher.ecr.describe_repositories()["repositories"]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    pusher.ensure_repository("headlines-train", 30, None)
    assert len(calls.changes) == 3  # nothing more to change
    pusher.ensure_repository("headlines-train", 31, push.pull_policy(ACCOUNT, []))
    assert calls.changes[3:] == ["ecr.PutLifecyclePolicy", "ecr.SetRepositoryPolicy"]


def test_a_dry_run_makes_only_read_calls_and_lists_the_rest(mock_ecr, capsys):
    pusher = _pusher(push.Calls(dry_run=True))
    pusher.ensure_repository("headlines-serve", 30, push.pull_policy(ACCOUNT, []))
    assert pusher.ecr.describe_repositories()["repositories"] == []
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'call ecr.DescribeRepositories(repositoryNames=["headlines-serve"])'
    assert [line.split("(")[0] for line in out[1:]] == [
        "would call ecr.CreateRepository",
        "would call ecr.PutLifecyclePolicy",
        "would call ecr.SetRepositoryPolicy",
    ]


def test_calls_hide_secrets():
    assert (
        push._arguments(("AWS",), {"password": "secret", "auth_config": {"password": "secret"}, "n": 1})
        == '"AWS", password=(hidden), auth_config=(hidden), n=1'
    )


# --- the push, with a Docker stand-in and moto's ECR ----------------------------------------------------------


class FakeDocker:
    """The Docker SDK calls the pusher makes: recorded; a push streams the registry's digest."""

    def __init__(self, media_type=push.DOCKER_V2_MANIFEST, stream=None):
        self.media_type, self.stream, self.log = media_type, stream, []

    def login(self, user, password, registry, reauth):
        self.log.append(("login", user, password, registry))

    def tag(self, source, target, tag):
        self.log.append(("tag", source, f"{target}:{tag}"))

    def push(self, target, tag, stream, decode, auth_config):
        self.log.append(("push", f"{target}:{tag}", auth_config["password"]))
        return iter(self.stream or [{"status": "Pushed"}, {"aux": {"Tag": tag, "Digest": PUSHED_DIGEST, "Size": 9}}])

    def remove_image(self, ref, noprune):
        self.log.append(("untag", ref))

    def inspect_distribution(self, ref, auth_config):
        return {"Descriptor": {"mediaType": self.media_type, "digest": ref.split("@")[1], "size": 9}}


def _local(key="serve", image_id=LOCAL_ID):
    return push.Local(images.IMAGES[key], image_id, 1000)


def _hold(ecr, repository, tag, config, media_type=push.DOCKER_V2_MANIFEST):
    """ECR holding `config` (an image Id) under repository:tag, as a push would leave it."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 9, "digest": config},
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 9,
                "digest": "sha256:" + "e" * 64,
            }
        ],
    }
    return ecr.put_image(
        repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest), imageManifestMediaType=media_type
    )["image"]["imageId"]["imageDigest"]


@pytest.fixture
def serve_repository(mock_ecr):
    """(pusher, its fake Docker API), the serving image's repository in moto's ECR with every setting."""
    api = FakeDocker()
    pusher = _pusher(push.Calls(), api)
    pusher.ensure_repository("headlines-serve", 30, None)
    return pusher, api


def test_push_logs_in_with_the_decoded_token_pushes_every_tag_and_reports_the_canonical_uri(mock_ecr, monkeypatch):
    monkeypatch.delenv("IMAGE_PREFIX", raising=False)
    api = FakeDocker()
    pusher = _pusher(push.Calls(), api, host="127.0.0.1:5000")
    pusher.ensure_repository("headlines-serve", 30, None)
    record = pusher.push(_local(), ["abc-cpu", "v1-cpu"], [])
    assert api.log[0] == ("login", "AWS", f"{ACCOUNT}-auth-token", "127.0.0.1:5000")
    assert [entry for entry in api.log if entry[0] == "push"] == [
        ("push", "127.0.0.1:5000/headlines-serve:abc-cpu", f"{ACCOUNT}-auth-token"),
        ("push", "127.0.0.1:5000/headlines-serve:v1-cpu", f"{ACCOUNT}-auth-token"),
    ]
    assert ("untag", "127.0.0.1:5000/headlines-serve:v1-cpu") in api.log
    assert record["uri"] == f"{REGISTRY}/headlines-serve@{PUSHED_DIGEST}" and record["pushed"]
    assert record["tag_uris"] == [f"{REGISTRY}/headlines-serve:abc-cpu", f"{REGISTRY}/headlines-serve:v1-cpu"]
    assert record["media_type"] == push.DOCKER_V2_MANIFEST and record["local"] == "headlines-serve:cpu"


def test_tags_ecr_holds_for_the_same_image_are_not_pushed_again(serve_repository):
    pusher, api = serve_repository
    digest = _hold(pusher.ecr, "headlines-serve", "abc-cpu", LOCAL_ID)
    record = pusher.push(_local(), ["abc-cpu"], [])
    assert api.log == [] and not record["pushed"] and record["digest"] == digest
    record = pusher.push(_local(), ["abc-cpu", "v1-cpu"], [])  # the commit got a version tag since
    assert [entry[1] for entry in api.log if entry[0] == "push"] == [f"{REGISTRY}/headlines-serve:v1-cpu"]
    assert record["pushed"]


def test_a_different_image_under_an_existing_tag_is_refused(serve_repository):
    pusher, api = serve_repository
    _hold(pusher.ecr, "headlines-serve", "abc-cpu", OTHER_ID)
    with pytest.raises(
        push.PushError,
        match=f"headlines-serve:abc-cpu already holds a different image .*{OTHER_ID}.*{LOCAL_ID}.*immutable",
    ):
        pusher.push(_local(), ["abc-cpu"], [])
    assert api.log == []


def test_an_index_already_under_the_tag_is_refused(serve_repository):
    pusher, _ = serve_repository
    _hold(pusher.ecr, "headlines-serve", "abc-cpu", LOCAL_ID, "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(push.PushError, match="oci.image.manifest.v1.*single-platform Docker v2 schema 2"):
        pusher.push(_local(), ["abc-cpu"], [])


def test_only_a_docker_v2_schema_2_manifest_passes():
    with pytest.raises(push.PushError, match="index.*SageMaker accepts only"):
        push.check_manifest("application/vnd.oci.image.index.v1+json", "r@sha256:x")
    push.check_manifest(push.DOCKER_V2_MANIFEST, "r@sha256:x")


def test_cache_tags_move_and_are_not_reported(serve_repository):
    pusher, api = serve_repository
    _hold(pusher.ecr, "headlines-serve", "abc-cpu", LOCAL_ID)
    _hold(pusher.ecr, "headlines-serve", "cache-serve", LOCAL_ID)
    _hold(pusher.ecr, "headlines-serve", "cache-serve-build-env", OTHER_ID)
    stage_id = "sha256:" + "3" * 64
    record = pusher.push(
        _local(),
        ["abc-cpu"],
        [
            ("headlines-serve:cpu", LOCAL_ID, "cache-serve"),
            ("headlines-serve:cpu-build-env", stage_id, "cache-serve-build-env"),
        ],
    )
    pushed = [entry[1] for entry in api.log if entry[0] == "push"]
    assert pushed == [f"{REGISTRY}/headlines-serve:cache-serve-build-env"]
    assert record["tags"] == ["abc-cpu"] and not record["pushed"]


# --- the push stream and the failures -------------------------------------------------------------------------


def test_the_digest_comes_from_the_push_stream():
    lines = [
        {"status": "Preparing", "id": "x"},
        {"status": "t: digest: sha256:a size: 1"},
        {"progressDetail": {}, "aux": {"Tag": "t", "Digest": "sha256:a", "Size": 1}},
    ]
    assert push.pushed_digest(lines, "r:t") == "sha256:a"
    with pytest.raises(push.PushError, match="ended without a digest"):
        push.pushed_digest([{"status": "Preparing"}], "r:t")


@pytest.mark.parametrize(
    "message,sentence",
    [
        (
            "Get http://127.0.0.1:1/v2/: dial tcp 127.0.0.1:1: connect: connection refused",
            "registry unreachable while pushing r:t: Get",
        ),
        (
            "denied: User: arn:aws:iam::1:user/x is not authorized to perform: ecr:InitiateLayerUpload",
            "access denied by the registry while pushing r:t: denied",
        ),
        ("tag invalid: The image tag 't' already exists", "pushing r:t failed: tag invalid"),
    ],
)
def test_push_stream_errors_become_one_sentence(message, sentence):
    with pytest.raises(push.PushError) as caught:
        push.pushed_digest([{"status": "Preparing"}, {"errorDetail": {"message": message}, "error": message}], "r:t")
    assert str(caught.value).startswith(sentence)


def _client_error(code, message, operation, status=400):
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


@pytest.mark.parametrize(
    "error,call,sentence",
    [
        (push.PushError("as it is"), None, "as it is"),
        (botocore.exceptions.NoCredentialsError(), "sts.GetCallerIdentity", "no AWS credentials found"),
        (botocore.exceptions.ProfileNotFound(profile="x"), None, "no AWS profile 'x'"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            "ecr.DescribeRepositories",
            "cannot reach the AWS endpoint http://127.0.0.1:1",
        ),
        (
            _client_error("AccessDeniedException", "User: u is not authorized", "CreateRepository", 400),
            "ecr.CreateRepository",
            "access denied: these credentials may not call ecr:CreateRepository",
        ),
        (
            _client_error(
                "403",
                "<?xml version='1.0'?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>"
                "User: u is not authorized</Message></Error></Errors></ErrorResponse>",
                "CreateRepository",
                403,
            ),
            "ecr.CreateRepository",
            "access denied: these credentials may not call ecr:CreateRepository; allow it in "
            "their IAM policy (User: u is not authorized)",
        ),
        (
            _client_error("InvalidParameterException", "Invalid repository policy provided", "SetRepositoryPolicy"),
            "ecr.SetRepositoryPolicy",
            "the repository policy was refused (InvalidParameterException: Invalid repository",
        ),
        (
            _client_error("AccessDeniedException", "not authorized", "SetRepositoryPolicy", 400),
            "ecr.SetRepositoryPolicy",
            "the repository policy was refused (AccessDeniedException",
        ),
        (
            _client_error("UnrecognizedClientException", "bad token", "DescribeRepositories"),
            "ecr.DescribeRepositories",
            "AWS did not accept these credentials (UnrecognizedClientException on ecr:DescribeRepositories)",
        ),
        (
            _client_error("ThrottlingException", "slow down", "BatchGetImage"),
            "ecr.BatchGetImage",
            "ecr:BatchGetImage failed: ThrottlingException: slow down",
        ),
        (
            docker.errors.APIError("500", explanation="Get http://h/v2/: dial tcp h: connect: connection refused"),
            "docker.login",
            "registry unreachable while logging in to the registry with the ECR token",
        ),
        (
            docker.errors.APIError(
                "401", explanation="login attempt to http://h/v2/ failed with status: 401 Unauthorized"
            ),
            "docker.login",
            "access denied by the registry while logging in",
        ),
        (docker.errors.ImageNotFound("No such image: x"), "docker.tag", "docker.tag failed: No such image: x"),
        (
            requests.exceptions.ConnectionError("reset"),
            "docker.push",
            "the Docker engine stopped answering during docker.push",
        ),
    ],
)
def test_failures_are_one_sentence(error, call, sentence):
    assert push.explain(error, call).startswith(sentence)


def test_no_docker_engine_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    with pytest.raises(docker.errors.DockerException) as caught:
        push.docker_api()
    assert push.explain(caught.value, None) == (
        f"no Docker engine answers at unix://{tmp_path}/nobody.sock: start "
        "Docker (scripts/ensure-docker.sh) or fix DOCKER_HOST"
    )


def test_an_unexpected_error_is_not_dressed_up():
    assert push.explain(KeyError("x"), None) is None


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--pull-account", "12345"], "not a 12-digit AWS account ID"),
        (["--images", "train,predict"], "comma-separated list of train, serve"),
        (["--keep", "0"], "not a positive integer"),
        (["--train-variant", "tpu"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        push.parser().parse_args(argv)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_main_prints_one_sentence_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(push, "run", lambda args, calls: (_ for _ in ()).throw(push.PushError("it broke")))
    assert push.main([]) == 1
    assert capsys.readouterr().err == "push: it broke\n"


def test_the_output_file_is_replaced_whole_and_reads_back(tmp_path):
    target = tmp_path / "build" / "images.json"
    serve = images.IMAGES["serve"]
    record = images.pushed_image_record(
        serve, serve.repository(), REGISTRY, PUSHED_DIGEST, ["0123456789ab-cpu"], 1, push.DOCKER_V2_MANIFEST, True
    )
    images.write_pushed_images(target, ACCOUNT, "us-east-1", "0" * 40, None, {"serve": record})
    assert [p.name for p in target.parent.iterdir()] == ["images.json"]
    assert json.loads(target.read_text())["schema"] == images.PUSHED_IMAGES_SCHEMA
    assert images.read_pushed_image(target, "serve") == record
    assert record["uri"] == f"{REGISTRY}/headlines-serve@{PUSHED_DIGEST}"


@pytest.mark.parametrize("key", sorted(images.PUSH_ARGS))
def test_the_push_args_asked_for_a_missing_image_push_that_image(key):
    args = push.parser().parse_args(images.PUSH_ARGS[key].split())
    chosen = push.selected_images(args.images, args.train_variant, args.serve_architecture)
    assert [image.key for image in chosen] == [key]


# --- the CodeBuild role against what buildspec.yml's push makes ---------------------------------------------------


class RecordingCalls(push.Calls):
    """Calls that remember every call, read-only ones too."""

    def __init__(self):
        super().__init__()
        self.made = set()

    def __call__(self, label, function, *args, **kwargs):
        self.made.add(label)
        return super().__call__(label, function, *args, **kwargs)


class LocalDocker(FakeDocker):
    def inspect_image(self, name):
        return {
            "Id": LOCAL_ID if not name.endswith("-build-env") else OTHER_ID,
            "Size": 1000,
            "Architecture": "amd64",
        }


@pytest.mark.parametrize("architecture", ["arm64", None])
def test_an_image_built_for_another_architecture_is_not_pushed(architecture):
    class BuiltElsewhere:
        def inspect_image(self, name):
            return {"Id": LOCAL_ID, "Size": 1000, "Architecture": architecture}

    with pytest.raises(push.PushError) as error:
        push.local_image(push.Calls(), BuiltElsewhere(), images.IMAGES["serve"])
    assert f"is built for {architecture}, not amd64" in str(error.value)
    assert "exec format error" in str(error.value) and "DOCKER_DEFAULT_PLATFORM=linux/amd64" in str(error.value)


def buildspec_push_arguments(cache_registry):
    """push.py's arguments in buildspec.yml's post_build, expanded by bash with the buildspec's variables."""
    import re

    import yaml

    spec = yaml.safe_load((REPO / "buildspec.yml").read_text())
    [command] = [c for c in spec["phases"]["post_build"]["commands"] if "scripts/push.py" in c]
    words = re.search(r"scripts/push\.py (.*?);", command, re.S).group(1)
    environment = {**spec["env"]["variables"], "CACHE_REGISTRY": cache_registry, "PATH": "/usr/bin:/bin"}
    expanded = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {words}"], env=environment, capture_output=True, text=True, check=True
    )
    return expanded.stdout.split()


@pytest.mark.parametrize("cache_registry", ["", "registry.example:5000"])
def test_the_codebuild_role_grants_exactly_what_the_buildspecs_push_uses(
    mock_ecr, monkeypatch, tmp_path, cache_registry
):
    """The ECR actions of docs/iam/codebuild-service-role.json are the calls buildspec.yml's push makes (creating
    the repositories, then correcting each setting) and the registry's: no ecr:SetRepositoryPolicy, which would let
    the build's role rewrite who may pull or push, since the buildspec never passes --pull-policy."""
    import boto3

    arguments = buildspec_push_arguments(cache_registry)
    assert "--pull-policy" not in arguments and not any(a.startswith("--pull-account") for a in arguments)
    monkeypatch.setattr(push, "docker_api", LocalDocker)
    monkeypatch.setattr(push, "source_state", lambda allow_dirty: ("0" * 40, None))
    calls = RecordingCalls()
    args = push.parser().parse_args([*arguments, "--output", str(tmp_path / "images.json")])
    assert push.run(args, calls) == 0
    ecr = boto3.client("ecr", region_name="us-east-1")
    for repository in ("headlines-train", "headlines-serve"):  # an administrator changed every setting
        ecr.put_image_scanning_configuration(
            repositoryName=repository, imageScanningConfiguration={"scanOnPush": False}
        )
        ecr.put_image_tag_mutability(repositoryName=repository, imageTagMutability="MUTABLE")
        ecr.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=json.dumps(push.lifecycle_policy(5)))
    assert push.run(args, calls) == 0
    used = {label.replace(".", ":") for label in calls.made if label.startswith("ecr.")}
    role = json.loads((REPO / "docs" / "iam" / "codebuild-service-role.json").read_text())
    granted = {action for statement in role["Statement"] for action in statement["Action"] if action.startswith("ecr:")}
    assert used <= granted
    assert granted == used | REGISTRY_ACTIONS, f"granted but never used: {granted - used - REGISTRY_ACTIONS}"
