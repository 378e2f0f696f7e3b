#!/usr/bin/env python3
"""Push the training and serving images to Amazon ECR, in the form SageMaker pulls.

    .venv/bin/python scripts/push.py                          # train (GPU) and serve, tagged with the commit
    .venv/bin/python scripts/push.py --train-variant both --pull-policy --pull-account 210987654321
    .venv/bin/python scripts/push.py --images serve --serve-architecture both   # x86 and Graviton serving images
    .venv/bin/python scripts/push.py --dry-run                # every AWS and Docker call it would make
    .venv/bin/python scripts/push.py --login-password         # the ECR password alone, for `docker login`

Account and region: --account/--region, then AWS_REGION/AWS_DEFAULT_REGION, then the profile, then STS (the
account). Endpoints: boto3's own AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>. The commit is that of the
checkout this script is in (git's own GIT_DIR/GIT_WORK_TREE pick another).

Each repository is created when missing and otherwise brought to these settings: scan on push; tags immutable except
the moving build-cache tags `cache-*`; a lifecycle policy (untagged images expire after a day, the last --keep
tagged images stay); with --pull-policy, a repository policy that lets SageMaker (for jobs and models of this
account and the --pull-account accounts only: aws:SourceAccount) and the --pull-account accounts pull, without which
CreateModel fails across accounts. The Docker engine is logged in with the ECR token in memory; nothing is written
to disk. Tags: `<commit12>-<variant>`, and `<git tag>-<variant>` when HEAD is tagged; the variant is the
accelerator, with the architecture when it is not amd64 (`cpu-arm64`, the Graviton serving image of
--serve-architecture arm64 or both), and an image built for another architecture than its tag says is refused before
anything is pushed. A tag that already holds the same image is not pushed again; one that holds another image stops
the push. Pushed manifests must be single-platform Docker v2 schema 2 manifests (SageMaker rejects OCI indexes and
attestations). The digest-pinned URIs are printed and written to a JSON file (--output) that scripts/launch.py and
buildspec.yml read (the pushed-images file, defined in scripts/images.py). --registry-host (tests only) sends the
bytes to another registry; the URIs stay ECR's.
Exit status: 0 done, 1 failed (one sentence on stderr), 2 bad arguments.
"""

import argparse
import base64
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import botocore.exceptions
import docker
import requests
from botocore import xform_name

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import images  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = "build/images.json"
FAMILIES = ("train", "serve")
TRAIN_VARIANTS = {"gpu": ("gpu",), "cpu": ("cpu",), "both": ("gpu", "cpu")}
SERVE_ARCHITECTURES = {"amd64": ("amd64",), "arm64": ("arm64",), "both": ("amd64", "arm64")}
DEFAULT_KEEP = 30
UNTAGGED_EXPIRY_DAYS = 1
ECR_USER = "AWS"
CACHE_TAG_PREFIX = "cache-"
TAG_SETTINGS = {
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": CACHE_TAG_PREFIX + "*"}],
}
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
DOCKER_V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# Asked for when reading what a tag holds, so ECR returns what is stored (an index too) instead of converting it.
MANIFEST_TYPES = [
    DOCKER_V2_MANIFEST,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]
# The calls a dry run makes; every other call it only prints.
READ_ONLY_CALLS = {
    "sts.GetCallerIdentity",
    "ecr.DescribeRepositories",
    "ecr.GetLifecyclePolicy",
    "ecr.GetRepositoryPolicy",
    "ecr.BatchGetImage",
    "docker.inspect_image",
    "docker.inspect_distribution",
}
SECRET_ARGUMENTS = {"password", "auth_config"}
UNREACHABLE_MARKERS = ("connection refused", "no such host", "i/o timeout", "no route to host", "dial tcp")
DENIED_MARKERS = ("denied", "unauthorized", "authentication required", "forbidden")


class PushError(Exception):
    """A failure that already is its one sentence."""


class Calls:
    """Every AWS and Docker call goes through here, so that one mechanism lists them: a dry run makes the read-only
    calls and prints the rest as `would call ...`; a real run logs its changing calls on stderr. `current` names the
    call in progress, so a failure can say which call failed."""

    def __init__(self, dry_run=False):
        self.dry_run = dry_run
        self.current = None
        self.changes = []

    def __call__(self, label, function, *args, **kwargs):
        self.current = label
        changing = label not in READ_ONLY_CALLS
        shown = f"{label}({_arguments(args, kwargs)})"
        if self.dry_run:
            print(("would call " if changing else "call ") + shown)
            if changing:
                return None
        elif changing:
            self.changes.append(label)
            print(shown, file=sys.stderr)
        return function(*args, **kwargs)

    def aws(self, client, operation, **params):
        label = f"{client.meta.service_model.service_name}.{operation}"
        return self(label, getattr(client, xform_name(operation)), **params)


def _arguments(args, kwargs):
    shown = [json.dumps(a) for a in args]
    shown += [f"{k}={'(hidden)' if k in SECRET_ARGUMENTS else json.dumps(v)}" for k, v in kwargs.items()]
    return ", ".join(shown)


# --- what to push: images, git state, account and region -----------------------------------------------------


def selected_images(families, train_variant, serve_architecture="amd64"):
    keys = [f"train-{variant}" for variant in TRAIN_VARIANTS[train_variant]] if "train" in families else []
    if "serve" in families:
        keys += [images.SERVING_IMAGE_KEYS[arch] for arch in SERVE_ARCHITECTURES[serve_architecture]]
    return [images.IMAGES[key] for key in keys]


def _git(*args):
    # cwd is this checkout; git's own GIT_DIR/GIT_WORK_TREE point it at another.
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


def source_state(allow_dirty):
    """(commit, version) of the checkout the images were built from. A dirty tree is refused: its images are not
    what the commit tag would claim."""
    head = _git("rev-parse", "HEAD")
    if head.returncode != 0:
        raise PushError(f"cannot read the git commit: {head.stderr.strip() or 'git failed'}")
    changed = _git("status", "--porcelain").stdout.splitlines()
    if changed and not allow_dirty:
        raise PushError(
            f"the git tree has uncommitted changes ({len(changed)} paths, e.g. {changed[0][3:]}): commit "
            "them so the commit tag describes the image, or pass --allow-dirty"
        )
    exact_tag = _git("describe", "--tags", "--exact-match", "HEAD")
    return head.stdout.strip(), (exact_tag.stdout.strip() or None) if exact_tag.returncode == 0 else None


def docker_tag(text):
    """text as a valid Docker tag: git tags such as release/1.0 may hold characters tags may not."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:128]


def image_tags(commit, version, variant):
    """The commit's tag and, when HEAD is tagged, the version's, each ending in the image's variant (cpu-arm64)."""
    tags = [f"{commit[:12]}-{variant}"]
    return tags + [docker_tag(f"{version}-{variant}")] if version else tags


def aws_region(given, profile_region):
    return given or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or profile_region


def aws_session(args):
    """(boto3 session, region): the region from --region, AWS_REGION/AWS_DEFAULT_REGION, then the profile."""
    import boto3

    session = boto3.Session(profile_name=args.profile)
    region = aws_region(args.region, session.region_name)
    if not region:
        raise PushError("no AWS region: pass --region, set AWS_REGION or give the profile a region")
    return session, region


def account_id(calls, session, region, given):
    return given or calls.aws(session.client("sts", region_name=region), "GetCallerIdentity")["Account"]


def ecr_registry(account, region):
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


def decode_token(authorization_token):
    """(user, password) from an ECR authorization token: base64 of `AWS:password`."""
    user, _, password = base64.b64decode(authorization_token).decode("utf-8").partition(":")
    return user, password


# --- repository settings ----------------------------------------------------------------------------------------


def lifecycle_policy(keep):
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {UNTAGGED_EXPIRY_DAYS} day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_EXPIRY_DAYS,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the last {keep} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def pull_policy(account, accounts):
    """The repository policy of --pull-policy: SageMaker pulls, and the --pull-account accounts' principals pull.

    SageMaker's statement carries the confused-deputy condition AWS asks for on service principals: SageMaker pulls
    for a job or model only when the account that owns it is this one or a --pull-account (aws:SourceAccount is
    the account SageMaker acts for), not for any SageMaker customer who learns the repository's URI. No
    aws:SourceArn condition: the account in that ARN is the one aws:SourceAccount already names, and which SageMaker
    resource's ARN (training job, model, endpoint...) a pull carries is not documented: a narrower pattern could
    refuse real pulls."""
    statements = [
        {
            "Sid": "SageMakerPull",
            "Effect": "Allow",
            "Principal": {"Service": SAGEMAKER_PRINCIPAL},
            "Action": PULL_ACTIONS,
            "Condition": {"StringEquals": {"aws:SourceAccount": list(dict.fromkeys([account, *accounts]))}},
        }
    ]
    if accounts:
        statements.append(
            {
                "Sid": "AccountsPull",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                "Action": PULL_ACTIONS,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclasses.dataclass
class Held:
    """What ECR holds under one tag."""

    digest: str
    media_type: str
    config: str  # the config blob's digest, which is the local image's Id


def check_manifest(media_type, where):
    if media_type != DOCKER_V2_MANIFEST:
        raise PushError(
            f"{where} is a {media_type} manifest, but SageMaker accepts only a single-platform Docker v2 "
            "schema 2 manifest: build without multi-platform output or provenance attestations"
        )


def pushed_digest(lines, ref):
    """The manifest digest from a push's progress stream; an error line fails the push with its sentence."""
    digest = None
    for line in lines:
        if "error" in line or "errorDetail" in line:
            message = line.get("error") or line["errorDetail"].get("message", "")
            raise PushError(registry_failure(f"pushing {ref}", message))
        digest = line.get("aux", {}).get("Digest", digest)
    if digest is None:
        raise PushError(f"pushing {ref} ended without a digest from the registry")
    return digest


def registry_failure(doing, message):
    """One sentence for what the Docker engine reported while talking to the registry."""
    lowered = message.lower()
    if any(marker in lowered for marker in UNREACHABLE_MARKERS):
        return f"registry unreachable while {doing}: {message}"
    if any(marker in lowered for marker in DENIED_MARKERS):
        return f"access denied by the registry while {doing}: {message}"
    return f"{doing} failed: {message}"


# --- the push ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Local:
    image: images.Image
    id: str
    size: int


class Pusher:
    """Pushes local images to one account's ECR registry (or, for tests, their bytes to --registry-host)."""

    def __init__(self, calls, api, ecr, registry, host, repository_prefix):
        self.calls, self.api, self.ecr = calls, api, ecr
        self.registry, self.host, self.prefix = registry, host, repository_prefix
        self._auth = None

    def ensure_repository(self, name, keep, policy):
        """Creates the repository when missing, else corrects what differs; a setting already right costs no call."""
        try:
            current = self.calls.aws(self.ecr, "DescribeRepositories", repositoryNames=[name])["repositories"][0]
        except self.ecr.exceptions.RepositoryNotFoundException:
            current = None
            self.calls.aws(
                self.ecr,
                "CreateRepository",
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                **TAG_SETTINGS,
            )
        if current and not current["imageScanningConfiguration"]["scanOnPush"]:
            self.calls.aws(
                self.ecr,
                "PutImageScanningConfiguration",
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
            )
        if current and {key: current.get(key) for key in TAG_SETTINGS} != TAG_SETTINGS:
            self.calls.aws(self.ecr, "PutImageTagMutability", repositoryName=name, **TAG_SETTINGS)
        self._ensure_document(name, "LifecyclePolicy", "lifecyclePolicyText", lifecycle_policy(keep), current)
        if policy:
            self._ensure_document(name, "RepositoryPolicy", "policyText", policy, current)

    def _ensure_document(self, name, kind, field, wanted, current):
        if current:
            try:
                text = self.calls.aws(self.ecr, f"Get{kind}", repositoryName=name)[field]
                if json.loads(text) == wanted:
                    return
            except getattr(self.ecr.exceptions, f"{kind}NotFoundException"):
                pass
        setter = "SetRepositoryPolicy" if kind == "RepositoryPolicy" else f"Put{kind}"
        self.calls.aws(self.ecr, setter, repositoryName=name, **{field: json.dumps(wanted)})

    def held(self, repository, tag):
        try:
            reply = self.calls.aws(
                self.ecr,
                "BatchGetImage",
                repositoryName=repository,
                imageIds=[{"imageTag": tag}],
                acceptedMediaTypes=MANIFEST_TYPES,
            )
        except self.ecr.exceptions.RepositoryNotFoundException:  # a dry run did not create it
            return None
        if not reply["images"]:
            return None
        found = reply["images"][0]
        manifest = json.loads(found["imageManifest"])
        return Held(
            found["imageId"]["imageDigest"],
            found.get("imageManifestMediaType") or manifest.get("mediaType"),
            manifest.get("config", {}).get("digest"),
        )

    def push(self, local: Local, tags: list[str], cache_tags: list[tuple[str, str, str]]) -> dict:
        """Pushes local under the tags ECR does not hold yet; returns its pushed-images record (digest None in a dry
        run)."""
        repository = local.image.repository(self.prefix)
        held = {tag: self.held(repository, tag) for tag in tags}
        for tag, found in held.items():
            if found and found.config != local.id:
                raise PushError(
                    f"{self.registry}/{repository}:{tag} already holds a different image (config "
                    f"{found.config}, local {local.image.local()} is {local.id}) and commit tags are "
                    "immutable: commit the change so it gets a tag of its own"
                )
        missing = [tag for tag, found in held.items() if found is None]
        digest, media_type = self._push_tags(local.image.local(), repository, missing)
        if not missing:
            digest, media_type = held[tags[0]].digest, held[tags[0]].media_type
        if media_type:
            check_manifest(media_type, f"{self.registry}/{repository}@{digest}")
        for source, source_id, tag in cache_tags:
            self._push_cache(source, source_id, repository, tag)
        return images.pushed_image_record(
            local.image, repository, self.registry, digest, tags, local.size, media_type, pushed=bool(missing)
        )

    def _push_cache(self, source, source_id, repository, tag):
        """A moving cache tag, pushed again only when it holds another image than source."""
        found = self.held(repository, tag)
        if not found or found.config != source_id:
            self._push_tags(source, repository, [tag])

    def _push_tags(self, source, repository, tags):
        """Pushes source as repository:tag for each tag; returns (digest, media type) as the registry that got the
        bytes reports them, or (None, None) when nothing was pushed (or in a dry run)."""
        target, digests = f"{self.host}/{repository}", set()
        for tag in tags:
            auth = self._login()
            self.calls("docker.tag", self.api.tag, source, target, tag)
            try:
                lines = self.calls(
                    "docker.push", self.api.push, target, tag=tag, stream=True, decode=True, auth_config=auth
                )
                if lines is not None:
                    digests.add(pushed_digest(lines, f"{target}:{tag}"))
            finally:
                self.calls("docker.remove_image", self.api.remove_image, f"{target}:{tag}", noprune=True)
        if not digests:
            return None, None
        if len(digests) > 1:
            raise PushError(f"the tags of {source} got different digests: {', '.join(sorted(digests))}")
        digest = digests.pop()
        descriptor = self.calls(
            "docker.inspect_distribution", self.api.inspect_distribution, f"{target}@{digest}", auth_config=self._auth
        )["Descriptor"]
        if descriptor["digest"] != digest:
            raise PushError(f"{target}@{digest} reads back as {descriptor['digest']}")
        return digest, descriptor["mediaType"]

    def _login(self):
        """The Docker engine logged in to the registry with the ECR token, once a run; the password stays here."""
        if self._auth is None:
            token = self.calls.aws(self.ecr, "GetAuthorizationToken")
            user, password = (
                decode_token(token["authorizationData"][0]["authorizationToken"]) if token else (ECR_USER, None)
            )  # a dry run gets no token
            self.calls("docker.login", self.api.login, user, password=password, registry=self.host, reauth=True)
            self._auth = {"username": user, "password": password, "serveraddress": self.host}
        return self._auth


def local_image(calls, api, image):
    """The local image's Id and size; refuses one that is missing, over its budget or built for another CPU
    architecture."""
    name = image.local()
    try:
        found = calls("docker.inspect_image", api.inspect_image, name)
    except docker.errors.ImageNotFound:
        raise PushError(
            f"image missing locally: {name} is not in the Docker engine; build it with "
            f"scripts/build-images.sh {image.key}"
        ) from None
    if found["Size"] > image.budget_bytes:
        raise PushError(
            f"{name} is {found['Size'] / 1e9:.2f} GB, over its budget of {image.budget_bytes / 1e9:.2f} "
            f"GB (scripts/images.py; serverless endpoints refuse images over "
            f"{images.SERVERLESS_CAP_BYTES / 1024**3:.0f} GiB)"
        )
    if found.get("Architecture") != image.architecture:
        raise PushError(
            f"{name} is built for {found.get('Architecture')}, not {image.architecture}: SageMaker runs "
            f"{image.repository()} on {image.architecture} instances, where it would fail with 'exec format error'. "
            f"Build it for linux/{image.architecture} (on Docker Desktop for Apple Silicon: "
            f"DOCKER_DEFAULT_PLATFORM=linux/{image.architecture} scripts/build-images.sh {image.key})"
        )
    return Local(image, found["Id"], found["Size"])


def cache_tags(calls, api, local):
    """(local image, its Id, moving tag) of --cache: the image itself and, when built, its build-env stage."""
    pushed = [(local.image.local(), local.id, f"{CACHE_TAG_PREFIX}{local.image.key}")]
    stage = local.image.stage(images.CACHE_STAGE)
    try:
        stage_id = calls("docker.inspect_image", api.inspect_image, stage)["Id"]
        pushed.append((stage, stage_id, f"{CACHE_TAG_PREFIX}{local.image.key}-{images.CACHE_STAGE}"))
    except docker.errors.ImageNotFound:
        print(f"no {stage} image: only {pushed[0][2]} is pushed as a cache", file=sys.stderr)
    return pushed


def docker_api():
    # version="auto": Debian's engine 20.10 is older than the SDK's default API version.
    return docker.APIClient(version="auto", **docker.utils.kwargs_from_env())


def print_login_password(calls, args):
    """--login-password: the decoded ECR password alone on stdout, as `aws ecr get-login-password` prints it."""
    session, region = aws_session(args)
    token = calls.aws(session.client("ecr", region_name=region), "GetAuthorizationToken")
    if token is not None:
        print(decode_token(token["authorizationData"][0]["authorizationToken"])[1])
    return 0


def run(args: argparse.Namespace, calls: Calls) -> int:
    """Checks what is local first (git, Docker, the images), then brings the repositories to their settings and
    pushes."""
    if args.login_password:
        return print_login_password(calls, args)
    chosen = selected_images(args.images, args.train_variant, args.serve_architecture)
    commit, version = source_state(args.allow_dirty)
    api = docker_api()
    locals_ = [local_image(calls, api, image) for image in chosen]
    session, region = aws_session(args)
    account = account_id(calls, session, region, args.account)
    registry = ecr_registry(account, region)
    pusher = Pusher(
        calls,
        api,
        session.client("ecr", region_name=region),
        registry,
        args.registry_host or registry,
        args.repository_prefix,
    )
    policy = pull_policy(account, args.pull_account) if args.pull_policy or args.pull_account else None
    for repository in dict.fromkeys(image.repository(args.repository_prefix) for image in chosen):
        pusher.ensure_repository(repository, args.keep, policy)
    records = push_images(pusher, calls, api, locals_, commit, version, args.cache)
    if args.dry_run:
        print(f"would write {args.output}")
        return 0
    images.write_pushed_images(args.output, account, region, commit, version, records)
    no_op = "" if calls.changes else " (no-op: every repository and tag was already as wanted)"
    print(f"wrote {args.output}{no_op}")
    return 0


def push_images(
    pusher: Pusher,
    calls: Calls,
    api: docker.APIClient,
    locals_: list[Local],
    commit: str,
    version: str | None,
    cache: bool,
) -> dict[str, dict]:
    """Pushes each local image under its tags (and with `cache` its cache tags); returns their records by key."""
    records = {}
    for local in locals_:
        started = time.monotonic()
        records[local.image.key] = pusher.push(
            local,
            image_tags(commit, version, local.image.variant),
            cache_tags(calls, api, local) if cache else [],
        )
        print(summary_line(local.image.key, records[local.image.key], time.monotonic() - started))
    return records


def summary_line(key, record, seconds):
    if record["digest"] is None:  # dry run
        return f"{key}: would push {record['registry']}/{record['repository']} tags {','.join(record['tags'])}"
    status = "pushed" if record["pushed"] else "already there"
    return f"{key}: {status} {record['uri']} tags {','.join(record['tags'])} ({seconds:.1f} s)"


# --- the process boundary: one sentence per failure -----------------------------------------------------------

BAD_CREDENTIAL_CODES = (
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "ExpiredToken",
)


def explain(error, call):
    """The failure as one sentence, or None for an unexpected error (a bug: let its traceback show)."""
    if isinstance(error, PushError):
        return str(error)
    if isinstance(error, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return (
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
            "where an IAM role provides them"
        )
    if isinstance(error, botocore.exceptions.ProfileNotFound):
        return f"no AWS profile {error.kwargs['profile']!r} in the AWS config files"
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach the AWS endpoint {error.kwargs['endpoint_url']}"
    if isinstance(error, botocore.exceptions.ClientError):
        return _explain_client_error(error, call)
    if isinstance(error, docker.errors.DockerException):
        return _explain_docker_error(error, call)
    if isinstance(error, requests.exceptions.ConnectionError):
        return f"the Docker engine stopped answering during {call}"
    return None


def _aws_message(error):
    message = error.response.get("Error", {}).get("Message", "")
    # moto's IAM enforcement answers JSON-protocol services with a Query-style XML error body.
    inner = re.search(r"<Code>(.*?)</Code>.*<Message>(.*?)</Message>", message, re.S)
    return (inner.group(1), inner.group(2)) if inner else (error.response.get("Error", {}).get("Code", ""), message)


def _explain_client_error(error, call):
    code, message = _aws_message(error)
    action = (call or "").replace(".", ":")
    if code in BAD_CREDENTIAL_CODES:
        return f"AWS did not accept these credentials ({code} on {action}): check the access key or the profile"
    if call == "ecr.SetRepositoryPolicy":
        return (
            f"the repository policy was refused ({code}: {message}): check the --pull-account IDs and that "
            "these credentials may call ecr:SetRepositoryPolicy"
        )
    if "AccessDenied" in code or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
        return f"access denied: these credentials may not call {action}; allow it in their IAM policy ({message})"
    return f"{action} failed: {code}: {message}"


def _explain_docker_error(error, call):
    host = os.environ.get("DOCKER_HOST") or "the default socket"
    if isinstance(error.__cause__, requests.exceptions.ConnectionError) or "fetching server API version" in str(error):
        return f"no Docker engine answers at {host}: start Docker (scripts/ensure-docker.sh) or fix DOCKER_HOST"
    message = getattr(error, "explanation", None) or str(error)
    if call == "docker.login":
        return registry_failure("logging in to the registry with the ECR token", message)
    return f"{call} failed: {message}"


# --- arguments --------------------------------------------------------------------------------------------------


def _families(text):
    families = [part.strip() for part in text.split(",") if part.strip()]
    if not families or set(families) - set(FAMILIES):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(FAMILIES)}")
    return families


def _account(text):
    if not re.fullmatch(r"\d{12}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a 12-digit AWS account ID")
    return text


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=_families, default=list(FAMILIES), help="train,serve (default both)")
    p.add_argument("--train-variant", choices=list(TRAIN_VARIANTS), default="gpu", help="default gpu")
    p.add_argument(
        "--serve-architecture",
        choices=list(SERVE_ARCHITECTURES),
        default="amd64",
        help="the serving image for x86 (amd64, the default), Graviton (arm64) or both",
    )
    p.add_argument("--account", type=_account)
    p.add_argument("--region")
    p.add_argument("--profile")
    p.add_argument("--repository-prefix", default=images.DEFAULT_PREFIX, help="repositories <prefix>-train, -serve")
    p.add_argument("--keep", type=_positive, default=DEFAULT_KEEP, help="tagged images the lifecycle policy keeps")
    p.add_argument("--pull-policy", action="store_true", help="let sagemaker.amazonaws.com pull")
    p.add_argument(
        "--pull-account",
        type=_account,
        action="append",
        default=[],
        help="also let this account pull (repeatable; implies --pull-policy)",
    )
    p.add_argument("--allow-dirty", action="store_true", help="push from a tree with uncommitted changes")
    p.add_argument("--cache", action="store_true", help="also push the moving cache-<key> tags the build reuses")
    p.add_argument("--output", default=DEFAULT_OUTPUT, help=f"the pushed images' JSON (default {DEFAULT_OUTPUT})")
    p.add_argument("--dry-run", action="store_true", help="print every call; make only the read-only ones")
    p.add_argument("--login-password", action="store_true", help="print the ECR password and exit")
    p.add_argument(
        "--registry-host",
        metavar="HOST:PORT",
        help="tests only: send the image bytes here; every URI reported stays the ECR one",
    )
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    calls = Calls(args.dry_run)
    try:
        return run(args, calls)
    except Exception as error:  # classified once, here
        sentence = explain(error, calls.current)
        if sentence is None:
            raise
        print(f"push: {sentence}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
