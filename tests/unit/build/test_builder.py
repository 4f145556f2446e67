from __future__ import annotations

from pathlib import Path

import pytest

from stackr.build.backend import RunResult, RunSpec
from stackr.build.builder import (
    BuildOptions,
    BuildResult,
    build_image,
    image_name,
    options_from_compose,
)
from stackr.build.errors import BuildError, DockerfileError, RunFailedError

from .fakes import FakeBackend


@pytest.fixture
def backend(tmp_path: Path) -> FakeBackend:
    fake = FakeBackend(tmp_path / "backend")
    fake.add_image("busybox", {"bin/sh": "#!", "etc/passwd": "root:x:0:0::/root:/bin/sh\n"
                               "app:x:1000:1001::/home/app:/bin/sh\n",
                               "etc/group": "root:x:0:\napp:x:1001:\n"},
                   {"Env": ["PATH=/bin"], "Cmd": ["sh"]})
    return fake


@pytest.fixture
def context(tmp_path: Path) -> Path:
    directory = tmp_path / "ctx"
    directory.mkdir()
    return directory


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def build(context: Path, backend: FakeBackend, dockerfile: str, **options: object) -> BuildResult:
    write(context / "Dockerfile", dockerfile)
    return build_image(BuildOptions(context=context, **options), backend)  # type: ignore[arg-type]


def writes(relative: str, text: str, exit_code: int = 0, output: str = ""):  # type: ignore[no-untyped-def]
    def script(root: Path, spec: RunSpec) -> RunResult:
        write(root / relative, text)
        return RunResult(exit_code, output)
    return script


SIMPLE = """\
FROM busybox
WORKDIR /app
COPY hello.txt ./
RUN make
ENV GREETING=hi
USER app
CMD ["cat", "hello.txt"]
"""


def test_build_makes_a_layer_per_filesystem_step(context: Path, backend: FakeBackend,
                                                 tmp_path: Path) -> None:
    write(context / "hello.txt", "hello")
    backend.scripts["make"] = writes("app/out", "built")
    result = build(context, backend, SIMPLE, tags=("demo:latest",))

    assert len(result.layers) == 3  # base + COPY + RUN
    config = result.config["config"]
    assert config["WorkingDir"] == "/app"
    assert config["User"] == "app"
    assert config["Cmd"] == ["cat", "hello.txt"]
    assert "GREETING=hi" in config["Env"]
    merged = backend.files(result.layers, tmp_path / "merged")
    assert (merged / "app/hello.txt").read_text() == "hello"
    assert (merged / "app/out").read_text() == "built"
    assert backend.saved[result.image_id][1] == ("demo:latest",)
    # RUN ran in the WORKDIR, with the base image's env and the shell form.
    spec = backend.runs[0]
    assert spec.argv == ("/bin/sh", "-c", "make")
    assert spec.workdir == "/app"
    assert "PATH=/bin" in spec.env


def test_unchanged_rebuild_hits_every_step_and_opens_no_container(
        context: Path, backend: FakeBackend) -> None:
    write(context / "hello.txt", "hello")
    backend.scripts["make"] = writes("app/out", "built")
    first = build(context, backend, SIMPLE)
    sessions = backend.sessions
    second = build(context, backend, SIMPLE)
    assert second.image_id == first.image_id
    assert second.cached_steps == second.layer_steps == 2
    assert backend.sessions == sessions
    assert len(backend.runs) == 1


def test_changed_copy_source_rebuilds_from_that_step(context: Path, backend: FakeBackend) -> None:
    dockerfile = "FROM busybox\nRUN first\nCOPY hello.txt /\nRUN second\n"
    write(context / "hello.txt", "hello")
    backend.scripts["first"] = writes("first", "1")
    backend.scripts["second"] = writes("second", "2")
    build(context, backend, dockerfile)
    write(context / "hello.txt", "changed")
    result = build(context, backend, dockerfile)
    assert [s.cached for s in result.steps] == [None, True, False, False]
    assert [spec.argv[-1] for spec in backend.runs] == ["first", "second", "second"]


def test_mtime_only_change_still_hits(context: Path, backend: FakeBackend) -> None:
    import os
    source = write(context / "hello.txt", "hello")
    build(context, backend, "FROM busybox\nCOPY hello.txt /\n")
    os.utime(source, (1, 1))
    result = build(context, backend, "FROM busybox\nCOPY hello.txt /\n")
    assert result.cached_steps == 1


def test_no_cache_runs_everything(context: Path, backend: FakeBackend) -> None:
    write(context / "hello.txt", "hello")
    build(context, backend, SIMPLE)
    result = build(context, backend, SIMPLE, no_cache=True)
    assert result.cached_steps == 0
    assert len(backend.runs) == 2


def test_missing_layer_in_store_is_a_miss(context: Path, backend: FakeBackend) -> None:
    write(context / "hello.txt", "hello")
    backend.scripts["make"] = writes("app/out", "built")
    first = build(context, backend, SIMPLE)
    del backend.layers[first.layers[-1]]
    second = build(context, backend, SIMPLE)
    assert [s.cached for s in second.steps if s.cached is not None] == [True, False]


def test_metadata_instructions_add_no_layer_and_do_not_invalidate_runs(
        context: Path, backend: FakeBackend) -> None:
    result = build(context, backend, "FROM busybox\nLABEL a=b\nEXPOSE 80 53/udp\n"
                   "VOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\n"
                   "RUN touch\n")
    assert result.layers == backend.images["busybox"].layers  # RUN changed nothing
    config = result.config["config"]
    assert config["Labels"] == {"a": "b"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGINT"
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    again = build(context, backend, "FROM busybox\nLABEL a=c\nRUN touch\n")
    assert again.cached_steps == 1


def test_arg_and_env_substitution(context: Path, backend: FakeBackend, tmp_path: Path) -> None:
    backend.add_image("busybox:1.36", {"marker": "1.36"})
    write(context / "src.txt", "x")
    dockerfile = """\
ARG VERSION=latest
FROM busybox:${VERSION}
ARG VERSION
ARG TARGET_DIR=/opt/${VERSION}
ARG UNSET
ENV HOME_DIR=${TARGET_DIR} EMPTY=${UNSET:-fallback} QUOTED="a b" ESCAPED=\\$HOME
ENV LEGACY value with spaces
COPY src.txt ${TARGET_DIR}/
WORKDIR $HOME_DIR
LABEL version="${VERSION}" set=${UNSET:+yes}
RUN build
"""
    result = build(context, backend, dockerfile, args={"VERSION": "1.36", "EXTRA": "1"})
    env = dict(item.partition("=")[::2] for item in result.config["config"]["Env"])
    assert env["HOME_DIR"] == "/opt/1.36"
    assert env["EMPTY"] == "fallback"
    assert env["QUOTED"] == "a b"
    assert env["ESCAPED"] == "$HOME"
    assert env["LEGACY"] == "value with spaces"
    assert result.config["config"]["WorkingDir"] == "/opt/1.36"
    assert result.config["config"]["Labels"] == {"version": "1.36", "set": ""}
    merged = backend.files(result.layers, tmp_path / "merged")
    assert (merged / "marker").read_text() == "1.36"
    assert (merged / "opt/1.36/src.txt").read_text() == "x"
    run_env = backend.runs[0].env
    assert "VERSION=1.36" in run_env and "TARGET_DIR=/opt/1.36" in run_env
    assert not any(item.startswith("UNSET=") for item in run_env)
    # Build args are not kept in the image config, only ENV is.
    assert "VERSION" not in env
    assert any("EXTRA" in w for w in result.warnings)


def test_changed_build_arg_misses_the_run_cache(context: Path, backend: FakeBackend) -> None:
    dockerfile = "FROM busybox\nARG MODE=debug\nRUN build\n"
    build(context, backend, dockerfile)
    assert build(context, backend, dockerfile).cached_steps == 1
    assert build(context, backend, dockerfile, args={"MODE": "release"}).cached_steps == 0


def test_multi_stage_copy_from(context: Path, backend: FakeBackend, tmp_path: Path) -> None:
    dockerfile = """\
FROM busybox AS build
RUN compile
FROM busybox AS unused
RUN never
FROM scratch
COPY --from=build /out/app /bin/app
COPY --from=busybox /etc/passwd /etc/
ENTRYPOINT ["/bin/app"]
"""
    backend.scripts["compile"] = writes("out/app", "binary")
    result = build(context, backend, dockerfile)
    assert [spec.argv[-1] for spec in backend.runs] == ["compile"]  # "unused" skipped
    merged = backend.files(result.layers, tmp_path / "merged")
    assert sorted(str(p.relative_to(merged)) for p in merged.rglob("*")) == [
        "bin", "bin/app", "etc", "etc/passwd"]
    assert result.config["config"]["Entrypoint"] == ["/bin/app"]
    again = build(context, backend, dockerfile)
    assert again.cached_steps == again.layer_steps == 3


def test_target_stops_at_the_named_stage(context: Path, backend: FakeBackend) -> None:
    dockerfile = "FROM busybox AS base\nENV STAGE=base\nFROM base\nRUN final\n"
    result = build(context, backend, dockerfile, target="base")
    assert backend.runs == []
    assert "STAGE=base" in result.config["config"]["Env"]
    with pytest.raises(DockerfileError, match="target stage 'nope' not found"):
        build(context, backend, dockerfile, target="nope")


def test_from_a_previous_stage_inherits_its_config(context: Path, backend: FakeBackend) -> None:
    result = build(context, backend, "FROM busybox AS base\nENV A=1\nFROM base\nENV B=2\n")
    env = result.config["config"]["Env"]
    assert "A=1" in env and "B=2" in env


def test_failing_run_reports_line_command_exit_code_and_output(
        context: Path, backend: FakeBackend) -> None:
    output = "".join(f"line {n}\n" for n in range(100)) + "make: *** [all] Error 2\n"
    backend.scripts["make all"] = writes("x", "", exit_code=2, output=output)
    with pytest.raises(RunFailedError) as caught:
        build(context, backend, "FROM busybox\n\nRUN make all\n")
    message = str(caught.value)
    assert message.startswith("Dockerfile:3: RUN make all failed with exit code 2")
    assert "make: *** [all] Error 2" in message
    assert "line 10\n" not in message  # only the tail
    assert caught.value.exit_code_of_command == 2


def test_copy_of_a_missing_source_names_the_line(context: Path, backend: FakeBackend) -> None:
    with pytest.raises(BuildError, match=r"^Dockerfile:2: COPY failed: 'nope.txt' not found"):
        build(context, backend, "FROM busybox\nCOPY nope.txt /\n")


def test_dockerignore_excludes_files_and_their_changes(context: Path, backend: FakeBackend,
                                                        tmp_path: Path) -> None:
    write(context / "app.py", "print()")
    write(context / "secret.env", "TOKEN=1")
    write(context / "logs/a.log", "x")
    write(context / "logs/keep.log", "x")
    write(context / ".dockerignore", "secret.env\nlogs\n!logs/keep.log\n")
    dockerfile = "FROM busybox\nCOPY . /app/\n"
    result = build(context, backend, dockerfile)
    merged = backend.files(result.layers, tmp_path / "merged")
    names = sorted(str(p.relative_to(merged / "app")) for p in (merged / "app").rglob("*"))
    assert names == [".dockerignore", "Dockerfile", "app.py", "logs", "logs/keep.log"]
    write(context / "secret.env", "TOKEN=2")
    assert build(context, backend, dockerfile).cached_steps == 1


def test_copy_chown_and_chmod(context: Path, backend: FakeBackend, tmp_path: Path) -> None:
    write(context / "run.sh", "#!/bin/sh")
    result = build(context, backend, "FROM busybox\nCOPY --chmod=0750 run.sh /usr/bin/\n")
    merged = backend.files(result.layers, tmp_path / "merged")
    assert (merged / "usr/bin/run.sh").stat().st_mode & 0o777 == 0o750
    with pytest.raises(BuildError, match="unknown user 'nobody'"):
        build(context, backend, "FROM busybox\nCOPY --chown=nobody run.sh /\n")


def test_add_url_is_refused(context: Path, backend: FakeBackend) -> None:
    with pytest.raises(BuildError, match=r"Dockerfile:2: ADD https://x/y\.tgz: adding from a URL"):
        build(context, backend, "FROM busybox\nADD https://x/y.tgz /\n")


def test_add_unpacks_a_local_tar(context: Path, backend: FakeBackend, tmp_path: Path) -> None:
    import tarfile
    payload = write(tmp_path / "payload/hello", "from tar")
    with tarfile.open(context / "files.tar.gz", "w:gz") as tar:
        tar.add(payload, arcname="hello")
    result = build(context, backend, "FROM busybox\nADD files.tar.gz /opt/\n"
                   "COPY files.tar.gz /copied/\n")
    merged = backend.files(result.layers, tmp_path / "merged")
    assert (merged / "opt/hello").read_text() == "from tar"
    assert (merged / "copied/files.tar.gz").is_file()


def test_entrypoint_resets_inherited_cmd(context: Path, backend: FakeBackend) -> None:
    result = build(context, backend, "FROM busybox\nENTRYPOINT /bin/app\n")
    assert result.config["config"]["Cmd"] is None
    assert result.config["config"]["Entrypoint"] == ["/bin/sh", "-c", "/bin/app"]
    result = build(context, backend, 'FROM busybox\nSHELL ["/bin/ash", "-eo"]\nCMD run\n'
                   "ENTRYPOINT [\"x\"]\n")
    assert result.config["config"]["Cmd"] == ["/bin/ash", "-eo", "run"]


def test_unknown_base_image_names_the_from_line(context: Path, backend: FakeBackend) -> None:
    with pytest.raises(BuildError, match="Dockerfile:1: image 'nope' not found"):
        build(context, backend, "FROM nope\n")


def test_pull_option_reaches_the_backend(context: Path, backend: FakeBackend) -> None:
    build(context, backend, "FROM busybox\n", pull=True)
    assert backend.pulls == [("busybox", True)]


def test_inline_dockerfile_and_missing_dockerfile(context: Path, backend: FakeBackend) -> None:
    result = build_image(BuildOptions(context=context, dockerfile_inline="FROM busybox\n"
                                      "ENV X=1\n"), backend)
    assert "X=1" in result.config["config"]["Env"]
    with pytest.raises(BuildError, match=r"Dockerfile .* not found"):
        build_image(BuildOptions(context=context, dockerfile="missing.Dockerfile"), backend)


def test_compose_build_section_maps_to_options(tmp_path: Path) -> None:
    options = options_from_compose(
        {"context": "web", "dockerfile": "Dockerfile.dev", "args": ["A=1", "B", "C"],
         "target": "dev", "labels": {"x": "y"}, "no_cache": True, "pull": True},
        project_dir=tmp_path, tags=["proj-web"], environ={"B": "from-env"})
    assert options.context == tmp_path / "web"
    assert options.dockerfile == "Dockerfile.dev"
    assert dict(options.args) == {"A": "1", "B": "from-env"}
    assert options.target == "dev"
    assert dict(options.labels) == {"x": "y"}
    assert options.no_cache and options.pull
    assert options.tags == ("proj-web",)
    assert options_from_compose(".", project_dir=tmp_path).context == tmp_path / "."
    tagged = options_from_compose({"context": ".", "tags": ["reg.example/web:1", "proj-web"]},
                                  project_dir=tmp_path, tags=["proj-web"])
    assert tagged.tags == ("proj-web", "reg.example/web:1")
    with pytest.raises(BuildError, match="ssh"):
        options_from_compose({"context": ".", "ssh": ["default"]}, project_dir=tmp_path)
    assert options.network == "default"
    assert options_from_compose({"context": ".", "network": "none"},
                                project_dir=tmp_path).network == "none"
    with pytest.raises(BuildError, match=r"build\.network 'back'"):
        options_from_compose({"context": ".", "network": "back"}, project_dir=tmp_path)
    # RUN's containers, in the form the stack file's model gives them
    hosted = options_from_compose(
        {"context": ".", "shm_size": 1 << 27, "extra_hosts": {"db": ["10.0.0.2", "::2"]},
         "ulimits": {"nproc": {"soft": 10, "hard": 20}, "core": {"soft": 0, "hard": 0}}},
        project_dir=tmp_path)
    assert hosted.shm_size == 1 << 27
    assert hosted.extra_hosts == (("db", "10.0.0.2"), ("db", "::2"))
    assert hosted.ulimits == (("core", 0, 0), ("nproc", 10, 20))
    assert not hosted.privileged
    assert options_from_compose({"context": ".", "privileged": True},
                                project_dir=tmp_path).privileged


def test_run_gets_the_builds_container_settings_outside_the_cache_key(
        context: Path, backend: FakeBackend) -> None:
    backend.scripts["make"] = writes("app/out", "built")
    write(context / "hello.txt", "hello")
    first = build(context, backend, SIMPLE)
    settings = {"shm_size": 1 << 27, "extra_hosts": (("db", "10.0.0.2"),),
                "ulimits": (("nproc", 10, 20),), "privileged": True}
    second = build(context, backend, SIMPLE, no_cache=True, **settings)
    assert second.image_id == first.image_id  # the same layers: not part of the key
    spec = backend.runs[-1]
    assert (spec.shm_size, spec.extra_hosts, spec.ulimits, spec.privileged) == \
        tuple(settings.values())


def test_image_name() -> None:
    assert image_name("shop", "web", None) == "shop-web"
    assert image_name("shop", "web", "registry/web:1") == "registry/web:1"


def test_run_makes_a_missing_workdir_owned_by_the_user(context: Path, backend: FakeBackend,
                                                       tmp_path: Path) -> None:
    import os
    seen: list[tuple[bool, int]] = []

    def check(root: Path, spec: RunSpec) -> RunResult:
        info = (root / "home/app/work").stat()
        seen.append((True, info.st_uid))
        return RunResult(0, "")

    backend.scripts["check"] = check
    build(context, backend, "FROM busybox\nUSER app\nWORKDIR /home/app/work\nRUN check\n")
    assert seen and seen[0][0]
    if os.geteuid() == 0:
        assert seen[0][1] == 1000


def test_proxy_args_reach_run_without_arg_and_do_not_bust_the_cache(
        context: Path, backend: FakeBackend) -> None:
    dockerfile = "FROM busybox\nRUN fetch\n"
    result = build(context, backend, dockerfile, args={"HTTP_PROXY": "http://p:3128"})
    assert "HTTP_PROXY=http://p:3128" in backend.runs[0].env
    assert not result.warnings
    again = build(context, backend, dockerfile, args={"HTTP_PROXY": "http://other:3128"})
    assert again.cached_steps == 1


def test_a_run_that_cannot_start_names_the_line(context: Path, backend: FakeBackend) -> None:
    from stackr.errors import HostError

    def broken(root: Path, spec: RunSpec) -> RunResult:
        raise HostError("exec", "/bin/sh", detail="no such file")

    backend.scripts["go"] = broken
    with pytest.raises(BuildError, match="Dockerfile:2: RUN could not start: exec /bin/sh"):
        build(context, backend, "FROM busybox\nRUN go\n")


def test_base_image_with_onbuild_triggers_is_refused(context: Path, backend: FakeBackend) -> None:
    backend.add_image("trigger", {"x": "y"}, {"OnBuild": ["RUN make"]})
    with pytest.raises(BuildError, match="Dockerfile:1: base image trigger has ONBUILD"):
        build(context, backend, "FROM trigger\n")


def test_copy_heredocs_make_inline_files(context: Path, backend: FakeBackend,
                                         tmp_path: Path) -> None:
    write(context / "plain.txt", "plain")
    dockerfile = ("FROM busybox\nENV NAME=web\n"
                  "COPY --chmod=600 <<conf <<'raw' plain.txt /etc/app/\n"
                  "name=$NAME \"quoted\"\nconf\nliteral=$NAME\nraw\n")
    result = build(context, backend, dockerfile)
    merged = backend.files(result.layers, tmp_path / "merged")
    assert (merged / "etc/app/conf").read_text() == 'name=web "quoted"\n'
    assert (merged / "etc/app/raw").read_text() == "literal=$NAME\n"
    assert (merged / "etc/app/plain.txt").read_text() == "plain"
    assert (merged / "etc/app/conf").stat().st_mode & 0o777 == 0o600
    assert build(context, backend, dockerfile).cached_steps == 1
    changed = dockerfile.replace("ENV NAME=web", "ENV NAME=api")
    assert build(context, backend, changed).cached_steps == 0


def test_the_stack_files_build_networks_are_the_builders() -> None:
    from typing import get_args

    from stackr.build.builder import BUILD_NETWORKS
    from stackr.config.models_parts import Build

    annotation = Build.model_fields["network"].annotation
    assert set(BUILD_NETWORKS) == {value for option in get_args(annotation)
                                   for value in get_args(option)}
