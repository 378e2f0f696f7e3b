"""The CodeBuild stand-in (tests/aws/codebuild.py) follows CodeBuild's rules, checked on toy buildspecs: phase order
and transitions, the shared shell state, finally, on-failure, variables and their precedence, exported
variables, reports and artifacts."""

import subprocess
import textwrap
import time

import pytest

from tests.aws.codebuild import NO_ARTIFACTS, BuildspecError, download_source, start_build

REPORT_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
  <testcase classname="tests.unit.test_a" name="test_passes"/>
  <testcase classname="tests.unit.test_a" name="test_fails"><failure message="assert 1 == 2"/></testcase>
  <testcase classname="tests.unit.test_a" name="test_errors"><error message="fixture broke"/></testcase>
  <testcase classname="tests.unit.test_a" name="test_skipped"><skipped message="later"/></testcase>
</testsuite></testsuites>
"""
REPORTS_AND_ARTIFACTS = """reports:
  unit:
    files:
      - unit.xml
    base-directory: reports
artifacts:
  files:
    - reports/unit.xml
"""


def write_source(tmp_path, buildspec, files=None):
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "buildspec.yml").write_text(textwrap.dedent(buildspec))
    for name, text in (files or {}).items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return source


def build(tmp_path, buildspec, files=None, **kwargs):
    return start_build(write_source(tmp_path, buildspec, files), tmp_path / "work", **kwargs)


def trace(tmp_path):
    path = tmp_path / "src" / "trace"
    return path.read_text().splitlines() if path.exists() else []


def phase_statuses(result):
    return {name: phase.status for name, phase in result.phases.items()}


def test_phases_run_in_codebuild_order_and_share_directory_and_exported_variables(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          post_build:
            commands:
              - echo "post_build $(basename "$PWD") $A" >> "$CODEBUILD_SRC_DIR/trace"
          build:
            commands:
              - echo "build $A" >> "$CODEBUILD_SRC_DIR/trace"
              - cd sub
          install:
            commands:
              - mkdir sub
              - export A=from-install
          pre_build:
            commands:
              - echo "pre_build $A" >> "$CODEBUILD_SRC_DIR/trace"
    """,
    )
    assert result.status == "SUCCEEDED", result.log
    assert list(result.phases) == ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"]
    assert trace(tmp_path) == ["pre_build from-install", "build from-install", "post_build sub from-install"]
    assert "POST_BUILD       SUCCEEDED" in result.summary()


def test_the_default_shell_is_sh_and_env_shell_picks_bash(tmp_path):
    command = 'echo "${BASH_VERSION:-no bash}" >> "$CODEBUILD_SRC_DIR/trace"'
    build(tmp_path, f"version: 0.2\nphases:\n  build:\n    commands:\n      - '{command}'\n")
    build(tmp_path, f"version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - '{command}'\n")
    plain_sh, bash = trace(tmp_path)
    assert plain_sh == "no bash" and bash != "no bash"


def test_a_failing_command_skips_the_rest_of_its_phase_and_finally_still_runs(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - echo one >> trace
              - "false"
              - echo never >> trace
            finally:
              - echo finally >> trace
    """,
    )
    assert trace(tmp_path) == ["one", "finally"]
    assert result.phases["BUILD"].status == "FAILED"
    assert result.phases["BUILD"].context.endswith("Error while executing command: false. Reason: exit status 1")


def test_a_failing_finally_command_fails_the_phase(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - "true"
            finally:
              - exit 3
    """,
    )
    assert result.status == "FAILED"
    assert "Reason: exit status 3" in result.phases["PRE_BUILD"].context


def test_exit_fails_only_its_command_and_the_state_it_left_carries_on(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - export LEFT=behind && exit 4
          post_build:
            commands:
              - echo "$LEFT" >> trace
    """,
    )
    assert phase_statuses(result)["BUILD"] == "FAILED"
    assert trace(tmp_path) == ["behind"]


def test_post_build_runs_after_a_failed_build_with_codebuild_build_succeeding_0(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - echo "pre_build $CODEBUILD_BUILD_SUCCEEDING" >> trace
          build:
            commands:
              - "false"
          post_build:
            commands:
              - echo "post_build $CODEBUILD_BUILD_SUCCEEDING" >> trace
        artifacts:
          files:
            - trace
    """,
    )
    assert trace(tmp_path) == ["pre_build 1", "post_build 0"]
    assert phase_statuses(result) == {
        "PRE_BUILD": "SUCCEEDED",
        "BUILD": "FAILED",
        "POST_BUILD": "SUCCEEDED",
        "UPLOAD_ARTIFACTS": "SUCCEEDED",
    }
    assert result.status == "FAILED" and result.artifacts == ["trace"]


@pytest.mark.parametrize("failing", ["install", "pre_build"])
def test_a_failed_install_or_pre_build_skips_everything_up_to_finalizing(tmp_path, failing):
    phases = "".join(
        f"  {name}:\n    commands:\n      - {'exit 1' if name == failing else f'echo {name} >> trace'}\n"
        for name in ("install", "pre_build", "build", "post_build")
    )
    result = build(
        tmp_path, f"version: 0.2\nphases:\n{phases}{REPORTS_AND_ARTIFACTS}", files={"reports/unit.xml": REPORT_XML}
    )
    assert result.status == "FAILED" and list(result.phases)[-1] == failing.upper()
    assert not {"build", "post_build"} & set(trace(tmp_path))
    assert result.reports == {} and result.artifacts == []


def test_on_failure_continue_goes_on_to_the_next_phase_and_the_build_still_fails(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            on-failure: CONTINUE
            commands:
              - "false"
          build:
            commands:
              - echo "build $CODEBUILD_BUILD_SUCCEEDING" >> trace
    """,
    )
    assert trace(tmp_path) == ["build 0"]
    assert result.status == "FAILED" and "UPLOAD_ARTIFACTS" in result.phases


def test_on_failure_abort_in_build_skips_post_build_and_the_upload(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            on-failure: ABORT
            commands:
              - "false"
          post_build:
            commands:
              - echo post_build >> trace
    """,
    )
    assert trace(tmp_path) == [] and list(result.phases) == ["BUILD"] and result.status == "FAILED"


def test_a_failed_post_build_fails_the_build_and_still_uploads(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          post_build:
            commands:
              - echo made > out.txt
              - "false"
        artifacts:
          files:
            - out.txt
    """,
    )
    assert result.status == "FAILED"
    assert phase_statuses(result) == {"POST_BUILD": "FAILED", "UPLOAD_ARTIFACTS": "SUCCEEDED"}
    assert (result.artifacts_dir / "out.txt").read_text() == "made\n"


def test_start_build_overrides_beat_project_variables_beat_the_buildspec_beats_the_image(tmp_path):
    build(
        tmp_path,
        """
        version: 0.2
        env:
          variables:
            IMAGE_ONLY_BELOW: buildspec
            BUILDSPEC_AND_PROJECT: buildspec
            ALL_THREE: buildspec
            LITERAL: $HOME
        phases:
          build:
            commands:
              - echo "$IMAGE_ONLY_BELOW $BUILDSPEC_AND_PROJECT $ALL_THREE $LITERAL" >> trace
    """,
        image_environment={"IMAGE_ONLY_BELOW": "image"},
        project_variables={"BUILDSPEC_AND_PROJECT": "project", "ALL_THREE": "project"},
        overrides={"ALL_THREE": "override"},
    )
    assert trace(tmp_path) == ["buildspec project override $HOME"]


@pytest.mark.parametrize("where", ["buildspec", "project_variables", "overrides"])
def test_codebuild_names_are_reserved(tmp_path, where):
    variables = "env:\n  variables:\n    CODEBUILD_MINE: x\n" if where == "buildspec" else ""
    kwargs = {} if where == "buildspec" else {where: {"CODEBUILD_MINE": "x"}}
    with pytest.raises(BuildspecError, match="CODEBUILD_MINE .*reserved"):
        build(tmp_path, f"version: 0.2\n{variables}phases:\n  build:\n    commands:\n      - 'true'\n", **kwargs)


def test_codebuild_sets_its_variables_for_a_checked_out_source(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    names = (
        "CODEBUILD_SRC_DIR",
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "CODEBUILD_BUILD_ID",
        "CODEBUILD_BUILD_ARN",
        "CODEBUILD_BUILD_NUMBER",
        "CODEBUILD_START_TIME",
        "CODEBUILD_BUILD_SUCCEEDING",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "HOME",
    )
    command = "; ".join(f'echo "${name}" >> "$HOME/seen"' for name in names)
    (repo / "buildspec.yml").write_text(f"version: 0.2\nphases:\n  build:\n    commands:\n      - '{command}'\n")
    source = tmp_path / "src"
    head = download_source(repo, source)
    before = time.time() * 1000
    result = start_build(
        source, tmp_path / "work", project="demo", region="eu-west-1", account="111122223333", build_number=7
    )
    seen = dict(zip(names, (tmp_path / "work" / "home" / "seen").read_text().splitlines()))
    assert result.status == "SUCCEEDED", result.log
    assert seen["CODEBUILD_SRC_DIR"] == str(source) and seen["CODEBUILD_RESOLVED_SOURCE_VERSION"] == head
    assert seen["CODEBUILD_BUILD_ID"].startswith("demo:")
    assert seen["CODEBUILD_BUILD_ARN"] == f"arn:aws:codebuild:eu-west-1:111122223333:build/{seen['CODEBUILD_BUILD_ID']}"
    assert seen["CODEBUILD_BUILD_NUMBER"] == "7" and seen["CODEBUILD_BUILD_SUCCEEDING"] == "1"
    assert before - 60_000 < int(seen["CODEBUILD_START_TIME"]) <= time.time() * 1000
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert seen["HOME"] == str(tmp_path / "work" / "home")


def test_download_source_is_a_clean_checkout_of_the_working_tree(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for name in ("kept.txt", "changed.txt", "deleted.txt"):
        (repo / name).write_text("committed\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    (repo / "changed.txt").write_text("changed\n")
    (repo / "deleted.txt").unlink()
    (repo / "new").mkdir()
    (repo / "new" / "file.txt").write_text("new\n")
    (repo / "ignored.txt").write_text("ignored\n")

    head = download_source(repo, tmp_path / "a", extra_files={"tests/extra.py": "x = 1\n"})
    clone = tmp_path / "a"
    assert (clone / "changed.txt").read_text() == "changed\n" and (clone / "new" / "file.txt").exists()
    assert (clone / "tests" / "extra.py").exists()
    assert not (clone / "deleted.txt").exists() and not (clone / "ignored.txt").exists()
    assert (
        subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True).stdout == ""
    )
    assert download_source(repo, tmp_path / "b", extra_files={"tests/extra.py": "x = 1\n"}) == head


def test_exported_variables_are_their_values_at_the_end_of_post_build(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        env:
          exported-variables:
            - URI
            - NEVER_SET
        phases:
          build:
            commands:
              - export URI=from-build
          post_build:
            commands:
              - export URI=from-post-build
    """,
    )
    assert result.exported_variables == {"URI": "from-post-build"}


def test_junit_reports_are_collected_and_counted(tmp_path):
    result = build(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - mkdir -p out/reports && cp unit.xml out/reports/
        reports:
          unit-tests:
            files:
              - '**/*'
            base-directory: out/reports
            file-format: JUNITXML
          missing:
            files:
              - nothing.xml
    """,
        files={"unit.xml": REPORT_XML},
    )
    report = result.reports["unit-tests"]
    assert (report.tests, report.failures, report.errors, report.skipped) == (4, 1, 1, 1)
    assert report.files == ["out/reports/unit.xml"] and report.status == "FAILED"
    assert report.failed_cases == ["tests.unit.test_a.test_fails", "tests.unit.test_a.test_errors"]
    assert result.reports["missing"].status == "INCOMPLETE"
    assert result.status == "SUCCEEDED"  # failed tests fail the build only through a failing command


@pytest.mark.parametrize("discard, expected", [("no", ["a.json", "sub/b.json"]), ("yes", ["a.json", "b.json"])])
def test_artifacts_are_collected_relative_to_the_base_directory(tmp_path, discard, expected):
    result = build(
        tmp_path,
        f"""
        version: 0.2
        phases:
          build:
            commands:
              - mkdir -p out/sub && echo 1 > out/a.json && echo 2 > out/sub/b.json && echo 3 > out/c.txt
        artifacts:
          files:
            - '**/*.json'
          base-directory: out
          discard-paths: {discard}
    """,
    )
    assert result.artifacts == expected
    assert sorted(str(p.relative_to(result.artifacts_dir)) for p in result.artifacts_dir.rglob("*.json")) == sorted(
        expected
    )


def test_artifacts_that_match_nothing_fail_the_upload_and_the_build(tmp_path):
    result = build(
        tmp_path,
        "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n"
        "artifacts:\n  files:\n    - build/images.json\n",
    )
    assert result.status == "FAILED"
    assert result.phases["UPLOAD_ARTIFACTS"].context == NO_ARTIFACTS


@pytest.mark.parametrize(
    "snippet, message",
    [
        ("version: 0.1\nphases: {}\n", "only buildspec version 0.2"),
        ("version: 0.2\nenv:\n  parameter-store:\n    X: /x\n", "env/parameter-store is not supported"),
        ("version: 0.2\nenv:\n  secrets-manager:\n    X: s:k\n", "env/secrets-manager is not supported"),
        ("version: 0.2\nrun-as: nobody\n", "run-as is not supported"),
        ("version: 0.2\nenv:\n  exported-variables:\n    - AWS_X\n", "AWS_X cannot be exported"),
        ("version: 0.2\nreports:\n  r:\n    files: [x]\n    file-format: CUCUMBERJSON\n", "only JUNITXML"),
        ("version: 0.2\nphases:\n  build:\n    on-failure: RETRY\n", "ABORT or CONTINUE"),
    ],
)
def test_what_the_runner_cannot_honour_is_refused_up_front(tmp_path, snippet, message):
    with pytest.raises(BuildspecError, match=message):
        build(tmp_path, snippet)


@pytest.mark.parametrize(
    "runtime, succeeds",
    [("python: {major}.{minor}", True), ("python: {major}.x", True), ("python: 2.7", False), ("nodejs: 18", False)],
)
def test_runtime_versions_must_be_on_the_build_image(tmp_path, runtime, succeeds):
    on_path = subprocess.run(
        ["python3", "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, check=True
    ).stdout.split()
    runtime = runtime.format(major=on_path[0], minor=on_path[1])
    result = build(
        tmp_path,
        f"version: 0.2\nphases:\n  install:\n    runtime-versions:\n      {runtime}\n    commands:\n      - 'true'\n",
    )
    assert (result.status == "SUCCEEDED") is succeeds
    if not succeeds:
        assert "Unknown runtime version" in result.phases["INSTALL"].context


def test_a_build_over_its_timeout_is_stopped(tmp_path):
    start = time.monotonic()
    result = build(
        tmp_path,
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n"
        "  post_build:\n    commands:\n      - echo never >> trace\n",
        timeout_seconds=0.5,
    )
    assert result.status == "TIMED_OUT" and result.phases["BUILD"].status == "TIMED_OUT"
    assert trace(tmp_path) == [] and time.monotonic() - start < 10
