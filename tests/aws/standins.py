"""AWS without AWS: moto in server mode for the ECR, STS, S3, IAM and SageMaker APIs, and a real Docker registry
standing in for ECR's registry front end.

moto cannot receive image bytes, so the bytes go to Debian's `docker-registry` (distribution 2.x) on a loopback
port. Two things make the pair behave like ECR:
- the registry's only user is `AWS` with the password that moto's authorization token decodes to, so a push
  that logs in proves the token was decoded correctly;
- the registry's notifications (its own webhook mechanism) tell a small receiver here about every manifest
  pushed, and the receiver puts that manifest into moto's ECR with the registry's digest, tag and media type —
  as ECR lists what `docker push` sent — so DescribeImages/BatchGetImage see the pushed images.
"""

import base64
import contextlib
import http.server
import json
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import boto3

MOTO_ACCOUNT = "123456789012"  # moto's default account
MOTO_REGION = "us-east-1"
REGISTRY_USER = "AWS"
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout} s")


class MotoServer:
    """One moto server on 127.0.0.1, in this process's threads; `reset()` forgets every resource."""

    def __init__(self, config_dir):
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.account, self.region = MOTO_ACCOUNT, MOTO_REGION
        config_dir = pathlib.Path(config_dir)
        config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("config", "credentials"):  # no profile of the developer's may leak in
            (config_dir / name).write_text("")
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(config_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "credentials"),
        }

    @property
    def registry_password(self):
        """What moto's GetAuthorizationToken decodes to after `AWS:` (moto/ecr/responses.py)."""
        return f"{self.account}-auth-token"

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def reset(self):
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10
        ).close()

    def stop(self):
        self._server.stop()


class _MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Receives the registry's notification envelopes and mirrors manifest pushes into moto's ECR."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        for event in json.loads(body or b"{}").get("events", []):
            self.server.registry.mirror(event)

    def log_message(self, *args):
        pass


class LocalRegistry:
    """Debian's docker-registry on 127.0.0.1:PORT with htpasswd auth, mirrored into moto's ECR."""

    def __init__(self, workdir, moto):
        import bcrypt

        if shutil.which("docker-registry") is None:
            raise RuntimeError(
                "docker-registry is not installed: apt-get install -y docker-registry "
                "(scripts/ensure-docker.sh installs it)"
            )
        self.workdir, self.moto = pathlib.Path(workdir), moto
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.password = moto.registry_password
        self.mirror_errors = []
        self._process = None
        self._webhook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MirrorHandler)
        self._webhook.registry = self
        threading.Thread(target=self._webhook.serve_forever, daemon=True).start()
        htpasswd = self.workdir / "htpasswd"
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd.write_text(f"{REGISTRY_USER}:{hashed}\n")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.config = self.workdir / "config.yml"
        self.config.write_text(
            json.dumps(
                {  # JSON is YAML
                    "version": 0.1,
                    "log": {"level": "warn", "accesslog": {"disabled": True}},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.workdir / "data")},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": self.host, "secret": "stand-in"},
                    "auth": {"htpasswd": {"realm": "ecr-stand-in", "path": str(htpasswd)}},
                    "notifications": {
                        "endpoints": [
                            {
                                "name": "moto-ecr",
                                "url": f"http://127.0.0.1:{self._webhook.server_port}/events",
                                "timeout": "5s",
                                "threshold": 3,
                                "backoff": "1s",
                                "ignore": {"mediatypes": ["application/octet-stream"], "actions": ["pull"]},
                            }
                        ]
                    },
                }
            )
        )
        self.start()

    # -- process ---------------------------------------------------------------------------------------------
    def start(self):
        log = open(self.workdir / "registry.log", "ab")
        self._process = subprocess.Popen(
            ["docker-registry", "serve", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_until(self._answers, 20, f"docker-registry answering on {self.host}")
        return self

    def stop(self):
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    def close(self):
        self.stop()
        self._webhook.shutdown()

    def _answers(self):
        if self._process.poll() is not None:
            raise RuntimeError(f"docker-registry exited:\n{(self.workdir / 'registry.log').read_text()[-2000:]}")
        return self._request("/v2/", check=False)[0] == 200

    # -- registry API, as the pushed images' owner sees it ---------------------------------------------------
    def _request(self, path, accept=(), check=True):
        token = base64.b64encode(f"{REGISTRY_USER}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            f"http://{self.host}{path}", headers={"Authorization": f"Basic {token}", "Accept": ", ".join(accept)}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            if check:
                raise
            return e.code, e.headers, e.read()
        except OSError:
            if check:
                raise
            return None, {}, b""

    def manifest(self, repository, reference):
        """(media type, digest, body) of a manifest, asking for any manifest type."""
        _, headers, body = self._request(f"/v2/{repository}/manifests/{reference}", accept=MANIFEST_MEDIA_TYPES)
        return headers["Content-Type"], headers["Docker-Content-Digest"], body

    def tags(self, repository):
        status, _, body = self._request(f"/v2/{repository}/tags/list", check=False)
        return sorted(json.loads(body).get("tags") or []) if status == 200 else []

    def repositories(self):
        return json.loads(self._request("/v2/_catalog")[2])["repositories"]

    # -- the mirror into moto --------------------------------------------------------------------------------
    def mirror(self, event):
        target = event.get("target", {})
        if (
            event.get("action") != "push"
            or not target.get("tag")
            or target.get("mediaType") not in MANIFEST_MEDIA_TYPES
        ):
            return
        try:
            media_type, digest, body = self.manifest(target["repository"], target["digest"])
            with contextlib.suppress(self.moto.client("ecr").exceptions.ImageAlreadyExistsException):
                self.moto.client("ecr").put_image(
                    repositoryName=target["repository"],
                    imageTag=target["tag"],
                    imageManifest=body.decode(),
                    imageManifestMediaType=media_type,
                    imageDigest=digest,
                )
        except Exception as e:  # recorded for the test that looks, never raised into the registry's retry loop
            self.mirror_errors.append(f"{target.get('repository')}:{target.get('tag')}: {e}")

    def wait_mirrored(self, repository, tag, timeout=10):
        """Waits until moto's ECR lists `tag` (the registry notifies asynchronously)."""
        ecr = self.moto.client("ecr")

        def listed():
            with contextlib.suppress(ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
                return bool(
                    ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
                )
            return False

        wait_until(listed, timeout, f"moto listing {repository}:{tag} (mirror errors: {self.mirror_errors})")
