"""The Docker command line (docker()), and one serving container run from an image (ServeContainer)."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request


def docker(*args, check=True, **kwargs):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, **kwargs)


class ServeContainer:
    """One serving container (`docker run -d`) with a model folder mounted read-only (at mount_at: /opt/ml/model, or
    a multi-model endpoint's /opt/ml/models), on a free host port; docker_options go to `docker run` as they are."""

    def __init__(
        self, image, model_dir, env=None, command=("serve",), port=8080, mount_at="/opt/ml/model", docker_options=()
    ):
        self.image, self.model_dir, self.env, self.command, self.port = image, model_dir, env or {}, command, port
        self.mount_at, self.docker_options = mount_at, list(docker_options)
        self.name = f"headlines-serve-{os.getpid()}-{time.monotonic_ns()}"
        self.address = None

    def start(self):
        env = [item for key, value in self.env.items() for item in ("-e", f"{key}={value}")]
        docker(
            "run",
            "-d",
            "--name",
            self.name,
            "-p",
            f"127.0.0.1::{self.port}",
            *env,
            *self.docker_options,
            "-v",
            f"{self.model_dir}:{self.mount_at}:ro",
            self.image,
            *self.command,
        )
        host, port = docker("port", self.name, str(self.port)).stdout.split()[0].rsplit(":", 1)
        self.address = (host, int(port))
        return self

    def use_container_address(self):
        """Talk to the container at its own network address instead of the published port. Docker's userland proxy
        behind a published port costs more CPU per connection than a one-headline request does (measured, ours at
        concurrency 8: 1,100-1,200 requests/s through it, 1,700-2,000 direct); SageMaker's front end has no such
        proxy. The benchmarks' load runs use this, for every server they measure."""
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        self.address = (docker("inspect", "-f", networks, self.name).stdout.strip(), self.port)
        return self

    def url(self, path):
        return f"http://{self.address[0]}:{self.address[1]}{path}"

    def ping(self, timeout=2):
        try:
            with urllib.request.urlopen(self.url("/ping"), timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def wait_ready(self, timeout=60):
        """Polls /ping until it answers 200; fails with the logs when the container exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping() == 200:
                return self
            if self.state()["Status"] == "exited":
                break
            time.sleep(0.02)
        raise AssertionError(f"{self.name} did not become ready:\n{self.logs()[-4000:]}")

    def state(self):
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.name).stdout)

    def logs(self):
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def python(self, code):
        """Runs Python inside the container (the image has no ps or kill); returns its stdout."""
        return docker("exec", self.name, "python3", "-c", code).stdout

    def worker_pids(self):
        """Container PIDs of gunicorn's workers: the children of the master, PID 1."""
        code = (
            "import os\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try: fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()\n"
            "    except OSError: continue\n"
            "    if fields[1] == '1': print(pid)\n"
        )
        return sorted(int(pid) for pid in self.python(code).split())

    def wait_for_workers(self, count, timeout=30):
        """The worker PIDs once there are count of them (gunicorn spawns workers a moment apart)."""
        deadline = time.monotonic() + timeout
        while len(pids := self.worker_pids()) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pids) == count, f"{len(pids)} workers, expected {count}:\n{self.logs()[-3000:]}"
        return pids

    def remove(self):
        docker("rm", "-f", self.name, check=False)
