"""A small stand-in for AWS CodeBuild: runs a buildspec (version 0.2) on this machine by CodeBuild's rules, so that
buildspec.yml is exercised before a real CodeBuild project ever runs it.

The rules, as the CodeBuild User Guide states them (build-spec-ref.md "Build specification reference",
build-env-ref-env-vars.md "Environment variables in build environments", view-build-details.md "Build phase
transitions"; awsdocs/aws-codebuild-user-guide, and docs.aws.amazon.com/codebuild/latest/userguide/):
- Phases install, pre_build, build, post_build run in that order. Version 0.2 runs the commands of a build "in the
  same instance of the default shell" (build-spec-ref.md, the note on 0.1; history.md: "Version 0.2 addresses the
  issue of CodeBuild running each build command in a separate instance of the default shell"): the working
  directory and the exported variables one command leaves carry over to the next, also across phases. Here every
  command runs in a shell of its own that starts in the state the previous one left, so a command's `exit` fails
  that command and the build goes on by the transitions below. The default shell is `sh`, not bash
  (awsdocs/aws-codebuild-user-guide#65, aws/aws-toolkit-vscode#4660); `env: shell` picks `bash` or `/bin/sh`.
- A failing command skips the rest of its phase's `commands`; `finally` runs after them whether they failed or
  not, and the phase fails when any command of either block fails.
- Phase transitions (the diagram of "Build phase transitions"): a failed INSTALL or PRE_BUILD goes straight to
  FINALIZING, so build, post_build and UPLOAD_ARTIFACTS are skipped; a failed BUILD still runs POST_BUILD (with
  CODEBUILD_BUILD_SUCCEEDING=0) and UPLOAD_ARTIFACTS ("The UPLOAD_ARTIFACTS phase is always attempted, even if
  the BUILD phase fails"; "If the build phase is success or failure, the build moves to post_build and executes
  all remaining phases", a CodeBuild engineer in aws/aws-codebuild-docker-images#385); a failed POST_BUILD fails
  the build and still uploads. `on-failure: ABORT` aborts the build (straight to FINALIZING), `CONTINUE` goes on
  to the next phase; without it the transitions above apply (build-spec-ref.md, phases/*/on-failure).
- CODEBUILD_BUILD_SUCCEEDING is 1 until a phase has failed, 0 from the next phase on. CodeBuild's variables
  CODEBUILD_SRC_DIR, _BUILD_ID, _BUILD_ARN, _BUILD_NUMBER, _START_TIME (ms), _RESOLVED_SOURCE_VERSION (a git
  source's HEAD), AWS_REGION, AWS_DEFAULT_REGION and HOME are set for every command; CODEBUILD_* names are
  reserved ("Do not set any environment variable with a name that starts with CODEBUILD_").
- Precedence of a variable defined in several places: the start-build call's overrides, then the project's
  variables, then the buildspec's `env: variables` ("The value in the start build operation call takes highest
  precedence"); all of them replace what the image defines. Values are literal: `$X` in a value is not expanded.
- `env: exported-variables`: their values at the end of post_build ("After the post_build phase ends, the value of
  exported variables cannot change"); names starting with AWS_ cannot be exported.
- Reports and artifacts are collected in UPLOAD_ARTIFACTS (reports fail there too: aws/aws-cdk#7367 "Error in
  UPLOAD_ARTIFACTS phase: [<report group>: ..."), reports first. `files` patterns are relative to
  `base-directory`, itself relative to the source directory; artifacts matching nothing fail the phase with
  CodeBuild's "CLIENT_ERROR: no matching artifact paths found"; a report group matching nothing is INCOMPLETE.
  So a build that fails in install or pre_build publishes no report (buildspec.yml's pre_build therefore says
  `on-failure: CONTINUE`).

Not supported, refused with a clear message: buildspec versions other than 0.2, `parameter-store` and
`secrets-manager` (this runner has no SSM or Secrets Manager), `run-as`, `proxy`, `batch`, `cache`, secondary
artifacts, report formats other than JUNITXML, runtimes other than python (whose version must be the python3
on PATH). Differences: HOME is a fresh folder instead of /root; the "image" is this machine (PATH, locale, proxy
and CA variables pass through). Stricter than CodeBuild where unsure: non-exported shell variables do not carry
over between commands (a buildspec that needs a value later exports it), and a command that replaces the shell
(`exec`) or sets its own EXIT trap leaves no state behind.
"""

import dataclasses
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ElementTree

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
UPLOAD_ARTIFACTS = "UPLOAD_ARTIFACTS"
# Where a failed phase goes when the buildspec does not say (on-failure): the phase transitions diagram.
SKIP_TO_FINALIZING_ON_FAILURE = ("install", "pre_build")
SHELLS = ("bash", "/bin/sh")
DEFAULT_SHELL = "/bin/sh"
# The build image's own environment: what passes through from this machine.
IMAGE_VARIABLES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "DOCKER_HOST",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
)
# Set by the shell itself: never carried from one command to the next.
SHELL_OWN_VARIABLES = ("_", "SHLVL", "PWD")
RESERVED_PREFIX = "CODEBUILD_"
UNEXPORTABLE_PREFIX = "AWS_"
SUPPORTED_KEYS = {
    "buildspec": {"version", "env", "phases", "reports", "artifacts"},
    "env": {"shell", "variables", "exported-variables"},
    "phase": {"commands", "finally", "on-failure", "runtime-versions"},
    "reports": {"files", "base-directory", "discard-paths", "file-format"},
    "artifacts": {"files", "base-directory", "discard-paths"},
}
ON_FAILURE = ("ABORT", "CONTINUE")
REPORT_FORMAT = "JUNITXML"
NO_ARTIFACTS = "CLIENT_ERROR: no matching artifact paths found"
DEFAULT_TIMEOUT_SECONDS = 60 * 60  # CodeBuild's default build timeout
# The working-tree snapshot commit: fixed, so the same tree gives the same commit.
SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "codebuild-runner",
    "GIT_AUTHOR_EMAIL": "codebuild-runner@localhost",
    "GIT_COMMITTER_NAME": "codebuild-runner",
    "GIT_COMMITTER_EMAIL": "codebuild-runner@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


class BuildspecError(ValueError):
    """The buildspec is not one this runner (or CodeBuild) accepts."""


@dataclasses.dataclass
class Phase:
    name: str  # INSTALL, PRE_BUILD, BUILD, POST_BUILD or UPLOAD_ARTIFACTS, as CodeBuild names phase types
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    seconds: float
    context: str = ""  # why it failed, in CodeBuild's words


@dataclasses.dataclass
class Report:
    group: str
    files: list
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failed_cases: list = dataclasses.field(default_factory=list)  # "classname.name" of failures and errors

    @property
    def status(self):
        """As CodeBuild reports a test report's status (test-report.md)."""
        if not self.files:
            return "INCOMPLETE"
        return "FAILED" if self.failures or self.errors else "SUCCEEDED"


@dataclasses.dataclass
class Build:
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    phases: dict  # phase type -> Phase, in the order they ran; skipped phases are absent
    exported_variables: dict
    reports: dict  # report group -> Report
    artifacts: list  # paths relative to artifacts_dir
    artifacts_dir: pathlib.Path
    log: str
    seconds: float

    def summary(self):
        lines = [f"{p.name:<17}{p.status:<10}{p.seconds:8.1f} s  {p.context}".rstrip() for p in self.phases.values()]
        lines += [
            f"report {r.group}: {r.status}, {r.tests} tests, {r.failures} failures, {r.errors} errors"
            for r in self.reports.values()
        ]
        return "\n".join(lines + [f"build {self.status} in {self.seconds:.1f} s"])


def download_source(repo, dest, extra_files=None):
    """A clean checkout of `repo`'s working tree in `dest`, as CodeBuild checks a commit out: a clone, with the
    uncommitted changes (and `extra_files`, {relative path: text}) committed on top in the clone only. Returns
    the clone's HEAD, which is CODEBUILD_RESOLVED_SOURCE_VERSION."""
    repo, dest = pathlib.Path(repo), pathlib.Path(dest)
    _git(repo.parent, "clone", "--quiet", str(repo), str(dest))
    for path in _git(repo, "ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0"):
        if path:
            _copy_or_remove(repo / path, dest / path)
    for path, text in (extra_files or {}).items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text)
    if _git(dest, "status", "--porcelain"):
        _git(dest, "add", "--all")
        _git(dest, "commit", "--quiet", "--no-verify", "-m", "Working tree snapshot for the CodeBuild runner")
    return _git(dest, "rev-parse", "HEAD").strip()


def _copy_or_remove(source, target):
    if source.exists() or source.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    elif target.exists():
        target.unlink()


def _git(cwd, *args):
    env = dict(os.environ, **SNAPSHOT_IDENTITY)
    return subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def start_build(
    source,
    work,
    *,
    buildspec="buildspec.yml",
    project_variables=None,
    overrides=None,
    image_environment=None,
    project="headlines",
    region="us-east-1",
    account="123456789012",
    build_number=1,
    timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
):
    """Runs the buildspec at `source`/`buildspec` with `source` as CODEBUILD_SRC_DIR and returns the Build.

    project_variables: the project's environment variables; overrides: the start-build call's
    environmentVariablesOverride; image_environment: what the build image and the service role provide (e.g.
    credentials), below everything else. `work` holds HOME, the log and the artifacts."""
    spec = load_buildspec(pathlib.Path(source) / buildspec)
    return _Runner(
        spec,
        pathlib.Path(source),
        pathlib.Path(work),
        project_variables or {},
        overrides or {},
        image_environment or {},
        project,
        region,
        account,
        build_number,
        timeout_seconds,
    ).run()


def load_buildspec(path):
    """The buildspec as a dict, refused with one clear sentence where this runner cannot honour it."""
    spec = yaml.safe_load(pathlib.Path(path).read_text())
    if not isinstance(spec, dict) or str(spec.get("version")) != "0.2":
        raise BuildspecError(
            f"{path}: only buildspec version 0.2 is supported (got {spec.get('version')!r})"
            if isinstance(spec, dict)
            else f"{path}: not a buildspec mapping"
        )
    _check_keys(spec, "buildspec", path)
    env = spec.get("env") or {}
    _check_keys(env, "env", path, "env/")
    if env.get("shell", DEFAULT_SHELL) not in SHELLS:
        raise BuildspecError(f"{path}: env/shell must be one of {', '.join(SHELLS)} on Linux")
    for name in env.get("exported-variables") or []:
        if name.startswith(UNEXPORTABLE_PREFIX):
            raise BuildspecError(f"{path}: {name} cannot be exported (CodeBuild exports no AWS_ variable)")
    for name in spec.get("phases") or {}:
        if name not in PHASES:
            raise BuildspecError(f"{path}: unknown phase {name!r} (expected {', '.join(PHASES)})")
        phase = spec["phases"][name] or {}
        _check_keys(phase, "phase", path, f"phases/{name}/")
        if phase.get("on-failure", "ABORT") not in ON_FAILURE:
            raise BuildspecError(f"{path}: phases/{name}/on-failure must be ABORT or CONTINUE")
        if "runtime-versions" in phase and name != "install":
            raise BuildspecError(f"{path}: runtime-versions belongs to the install phase")
    for group, report in (spec.get("reports") or {}).items():
        _check_keys(report, "reports", path, f"reports/{group}/")
        if str(report.get("file-format", REPORT_FORMAT)).upper() != REPORT_FORMAT:
            raise BuildspecError(f"{path}: reports/{group}: only {REPORT_FORMAT} reports are supported")
    if "artifacts" in spec:
        _check_keys(spec["artifacts"], "artifacts", path, "artifacts/")
    return spec


def _check_keys(mapping, kind, path, where=""):
    unknown = sorted(set(mapping) - SUPPORTED_KEYS[kind])
    if unknown:
        raise BuildspecError(
            f"{path}: {', '.join(where + key for key in unknown)} is not supported by this "
            "runner (tests/aws/codebuild.py)"
        )


class _Runner:
    def __init__(
        self,
        spec,
        source,
        work,
        project_variables,
        overrides,
        image_environment,
        project,
        region,
        account,
        build_number,
        timeout_seconds,
    ):
        self.spec, self.source, self.work = spec, source, work
        self.shell = (spec.get("env") or {}).get("shell", DEFAULT_SHELL)
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work / "build.log"
        self.log_path.write_text("")
        self.artifacts_dir = self.work / "artifacts"
        self.deadline = time.monotonic() + timeout_seconds
        self.succeeding, self.timed_out, self.phases = True, False, {}
        self.cwd = str(source)
        self.env = self._initial_environment(
            project_variables, overrides, image_environment, project, region, account, build_number
        )

    # -- environment --------------------------------------------------------------------------------------------
    def _initial_environment(
        self, project_variables, overrides, image_environment, project, region, account, build_number
    ):
        home = self.work / "home"
        home.mkdir(exist_ok=True)
        build_id = f"{project}:{uuid.uuid4()}"
        codebuild = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "HOME": str(home),
            "CODEBUILD_SRC_DIR": str(self.source),
            "CODEBUILD_BUILD_ID": build_id,
            "CODEBUILD_BUILD_ARN": f"arn:aws:codebuild:{region}:{account}:build/{build_id}",
            "CODEBUILD_BUILD_NUMBER": str(build_number),
            "CODEBUILD_START_TIME": str(int(time.time() * 1000)),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
        }
        if (self.source / ".git").exists():  # not set for sources without a version (S3)
            codebuild["CODEBUILD_RESOLVED_SOURCE_VERSION"] = _git(self.source, "rev-parse", "HEAD").strip()
        buildspec_variables = (self.spec.get("env") or {}).get("variables") or {}
        layers = [
            ("the buildspec's env/variables", buildspec_variables),
            ("the project's variables", project_variables),
            ("the start-build overrides", overrides),
        ]
        for where, variables in layers:
            reserved = sorted(name for name in variables if name.startswith(RESERVED_PREFIX))
            if reserved:
                raise BuildspecError(f"{', '.join(reserved)} in {where}: CODEBUILD_ names are reserved for CodeBuild")
        env = {name: os.environ[name] for name in IMAGE_VARIABLES if name in os.environ}
        env.update(image_environment)
        env.update(codebuild)
        for _, variables in layers:  # lowest precedence first
            env.update({name: _literal(value) for name, value in variables.items()})
        return env

    # -- the build ------------------------------------------------------------------------------------------------
    def run(self):
        start = time.monotonic()
        self._log(f"Running the buildspec of {self.source} with {self.shell}")
        upload = self._run_phases()
        exported = {
            name: self.env[name]
            for name in (self.spec.get("env") or {}).get("exported-variables") or []
            if name in self.env
        }
        reports, artifacts = self._upload_artifacts() if upload else ({}, [])
        status = "TIMED_OUT" if self.timed_out else "SUCCEEDED" if self.succeeding else "FAILED"
        self._log(f"Phase complete: FINALIZING State: SUCCEEDED (build {status})")
        return Build(
            status,
            self.phases,
            exported,
            reports,
            artifacts,
            self.artifacts_dir,
            self.log_path.read_text(errors="replace"),
            time.monotonic() - start,
        )

    def _run_phases(self):
        """Runs the phases by CodeBuild's transitions; returns whether the build reaches UPLOAD_ARTIFACTS."""
        phases = self.spec.get("phases") or {}
        for name in PHASES:
            if name not in phases:
                continue
            phase = phases[name] or {}
            if self._run_phase(name, phase) == "SUCCEEDED":
                continue
            self.succeeding = False
            self.env["CODEBUILD_BUILD_SUCCEEDING"] = "0"
            on_failure = phase.get("on-failure")
            if self.timed_out or on_failure == "ABORT" or (not on_failure and name in SKIP_TO_FINALIZING_ON_FAILURE):
                return False
        return True

    def _run_phase(self, name, phase):
        phase_type = name.upper()
        self._log(f"Entering phase {phase_type}")
        start = time.monotonic()
        context = self._check_runtimes(phase.get("runtime-versions") or {})
        if not context:
            context = self._run_commands(phase.get("commands") or [])
        if not self.timed_out:  # `finally` runs whether `commands` failed or not; the first failure is reported
            finally_context = self._run_commands(phase.get("finally") or [])
            context = context or finally_context
        status = "TIMED_OUT" if self.timed_out else "FAILED" if context else "SUCCEEDED"
        self.phases[phase_type] = Phase(phase_type, status, time.monotonic() - start, context)
        self._log(f"Phase complete: {phase_type} State: {status}")
        self._log(f"Phase context status code: {context}")
        return status

    def _check_runtimes(self, runtimes):
        for runtime, version in runtimes.items():
            available = self._python_version() if runtime == "python" else None
            wanted = _literal(version)
            if available is None or not (
                wanted in ("latest", available) or (wanted.endswith(".x") and available.startswith(wanted[:-1]))
            ):
                message = (
                    f"YAML_FILE_ERROR Message: Unknown runtime version named '{wanted}' of {runtime}. "
                    f"This build image has the following versions: {available or 'none'}"
                )
                self._log(message)
                return message
        return ""

    def _python_version(self):
        result = subprocess.run(
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            env=self.env,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip() or None

    def _run_commands(self, commands):
        """Runs commands until one fails; returns CodeBuild's phase context for the failure, '' when none did."""
        for command in commands:
            command = _literal(command)
            status = self._run_command(command)
            if self.timed_out:
                return f"BUILD_TIMED_OUT: Build timed out while running command: {command}"
            if status != 0:
                return (
                    f"COMMAND_EXECUTION_ERROR Message: Error while executing command: {command}. "
                    f"Reason: exit status {status}"
                )
        return ""

    def _run_command(self, command):
        """One command in a fresh shell that starts where the previous one ended (working directory and exported
        variables) and saves its own end state, also when the command calls `exit`."""
        self._log(f"Running command {command}")
        state_env, state_pwd = self.work / "state.env", self.work / "state.pwd"
        for path in (state_env, state_pwd):
            path.unlink(missing_ok=True)
        script = (
            f"cd -- {shlex.quote(self.cwd)} || exit\n"
            f"trap 'cb_status=$?; env -0 > {shlex.quote(str(state_env))}; "
            f"pwd > {shlex.quote(str(state_pwd))}; exit $cb_status' EXIT\n"
            f"{command}\n"
        )
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                [self.shell, "-c", script],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                status = process.wait(timeout=max(self.deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the command's own process group
                process.wait()
                self.timed_out = True
                return None
        self._restore_state(state_env, state_pwd)
        return status

    def _restore_state(self, state_env, state_pwd):
        if state_env.exists() and state_pwd.exists():
            pairs = (
                item.partition("=")
                for item in state_env.read_bytes().decode(errors="surrogateescape").split("\0")
                if item
            )
            self.env = {name: value for name, _, value in pairs if name not in SHELL_OWN_VARIABLES}
            self.env["CODEBUILD_BUILD_SUCCEEDING"] = "1" if self.succeeding else "0"
            self.cwd = state_pwd.read_text().rstrip("\n")

    # -- UPLOAD_ARTIFACTS ---------------------------------------------------------------------------------------
    def _upload_artifacts(self):
        self._log(f"Entering phase {UPLOAD_ARTIFACTS}")
        start = time.monotonic()
        reports = {group: self._report(group, settings) for group, settings in (self.spec.get("reports") or {}).items()}
        artifacts, context = [], ""
        if "artifacts" in self.spec:
            artifacts = self._copy_artifacts(self.spec["artifacts"])
            context = "" if artifacts else NO_ARTIFACTS
        if context:
            self.succeeding = False
        status = "FAILED" if context else "SUCCEEDED"
        self.phases[UPLOAD_ARTIFACTS] = Phase(UPLOAD_ARTIFACTS, status, time.monotonic() - start, context)
        self._log(f"Phase complete: {UPLOAD_ARTIFACTS} State: {status}")
        self._log(f"Phase context status code: {context}")
        return reports, artifacts

    def _report(self, group, settings):
        files = self._matches(settings)
        report = Report(group, [str(path.relative_to(self.source)) for path in files])
        for path in files:
            for case in ElementTree.parse(path).getroot().iter("testcase"):
                report.tests += 1
                outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), None)
                if outcome == "skipped":
                    report.skipped += 1
                elif outcome:
                    report.failures += outcome == "failure"
                    report.errors += outcome == "error"
                    report.failed_cases.append(f"{case.get('classname')}.{case.get('name')}")
        self._log(f"Report {group}: {report.status}, {len(files)} file(s), {report.tests} tests")
        return report

    def _copy_artifacts(self, settings):
        copied = []
        for path, base in self._matches(settings, with_base=True):
            relative = pathlib.Path(path.name) if _yes(settings.get("discard-paths")) else path.relative_to(base)
            target = self.artifacts_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied.append(str(relative))
        self._log(f"Artifacts: {len(copied)} file(s)")
        return copied

    def _matches(self, settings, with_base=False):
        """Files matching `files` under each directory matching `base-directory` (the source directory if none)."""
        base_pattern = settings.get("base-directory")
        bases = sorted(self.source.glob(_literal(base_pattern))) if base_pattern else [self.source]
        found = []
        for base in (b for b in bases if b.is_dir()):
            for pattern in settings.get("files") or []:
                found += [(path, base) for path in sorted(base.glob(_literal(pattern))) if path.is_file()]
        unique = list(dict.fromkeys(found))
        return unique if with_base else [path for path, _ in unique]

    def _log(self, line):
        with open(self.log_path, "a") as log:
            log.write(f"[Container] {time.strftime('%Y/%m/%d %H:%M:%S')} {line}\n")


def _literal(value):
    """A YAML scalar as CodeBuild reads it: text, never expanded (`python: 3.11` is "3.11")."""
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _yes(value):
    return value is True or str(value).lower() in ("yes", "true")
