"""Dockerfile builds on the real engine: image store, overlay, stackr.runtime containers.

The base image is the host's static busybox imported into the store (offline).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stackr.build.builder import BuildOptions, BuildResult, build_image
from stackr.build.engine_backend import EngineBackend
from stackr.build.errors import RunFailedError
from stackr.images import ImageStore
from tests.fixtures.busybox import make_busybox_rootfs

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox:test
FROM ${BASE} AS build
ARG GREETING=hello
WORKDIR /src
COPY greet.sh ./
RUN sh greet.sh > out.txt && echo "built with $GREETING"

FROM ${BASE}
ENV APP_HOME=/app
COPY --from=build /src/out.txt ${APP_HOME}/
COPY --chown=app:app data/ ${APP_HOME}/data/
RUN rm /etc/hostname \\
 && mkdir -p /var/cache/app && echo cached > /var/cache/app/x
USER app
WORKDIR ${APP_HOME}
CMD ["sh", "-c", "id -u; pwd; cat out.txt; ls data; stat -c %u data/item; \\
test -e /etc/hostname || echo no-hostname; cat /var/cache/app/x"]
"""


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    store = ImageStore()
    store.import_rootfs(make_busybox_rootfs(tmp_path / "busybox-root"), "busybox:test")
    return store


@pytest.fixture
def context(tmp_path: Path) -> Path:
    directory = tmp_path / "context"
    (directory / "data").mkdir(parents=True)
    (directory / "greet.sh").write_text('echo "$GREETING from the build stage"\n')
    (directory / "data/item").write_text("1")
    (directory / "data/ignored.tmp").write_text("no")
    (directory / ".dockerignore").write_text("**/*.tmp\n")
    (directory / "Dockerfile").write_text(DOCKERFILE)
    return directory


def run_image(store: ImageStore, result: BuildResult, tmp_path: Path) -> str:
    """Run the built image's CMD as its USER in its WORKDIR; return the output."""
    from stackr.runtime import container
    from stackr.runtime.spec import ContainerSpec, ContainerStdio, RootfsSpec

    record = store.get(result.image_id)
    config = result.config["config"]
    layer_dirs = tuple(str(p) for p in reversed(store.layer_dirs(record)))
    spec = ContainerSpec(
        container_id=f"stkbuildtest-{os.getpid()}",
        rootfs=RootfsSpec(layer_dirs=layer_dirs),
        args=tuple(config["Cmd"]),
        env=tuple(config.get("Env") or ()),
        cwd=config.get("WorkingDir") or "/",
        user=config.get("User") or "",
    )
    output = tmp_path / "run-output"
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        container.create(spec, ContainerStdio(stdout=descriptor, stderr=descriptor))
        try:
            container.start(spec.container_id)
            final = container.wait(spec.container_id, 30)
        finally:
            container.delete(spec.container_id, force=True)
    finally:
        os.close(descriptor)
    text = output.read_text()
    assert final.exit_code == 0, text
    return text


def test_multi_stage_build_runs_with_user_and_workdir(store: ImageStore, context: Path,
                                                      tmp_path: Path) -> None:
    backend = EngineBackend(store, network_mode="host")
    options = BuildOptions(context=context, tags=("demo-web:latest",),
                           args={"GREETING": "howdy"}, labels={"com.example": "yes"})
    started = time.monotonic()
    result = build_image(options, backend)
    cold = time.monotonic() - started
    assert store.resolve("demo-web:latest") is not None
    assert store.resolve("demo-web:latest").id == result.image_id  # type: ignore[union-attr]
    assert result.config["config"]["Labels"] == {"com.example": "yes"}
    # The "build" stage's layers are not in the final image: base + 3 layer steps.
    assert len(result.layers) == 1 + 3

    output = run_image(store, result, tmp_path).splitlines()
    assert output == ["1000", "/app", "howdy from the build stage", "item", "1000",
                      "no-hostname", "cached"]

    started = time.monotonic()
    again = build_image(options, backend)
    warm = time.monotonic() - started
    assert again.image_id == result.image_id
    assert again.cached_steps == again.layer_steps == 5
    print(f"\ncold build {cold:.2f}s, no-change rebuild {warm:.3f}s")

    # A changed COPY source rebuilds from that step on, in the stage that uses it.
    (context / "data/item").write_text("2")
    changed = build_image(options, backend)
    assert [s.cached for s in changed.steps if s.cached is not None] == [
        True, True, True, False, False]
    # Changing an ignored file changes nothing.
    (context / "data/ignored.tmp").write_text("still ignored")
    assert build_image(options, backend).cached_steps == 5


def test_failing_run_shows_line_exit_code_and_output(store: ImageStore, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox:test\nRUN echo preparing\nRUN echo 'something broke' >&2; exit 3\n")
    with pytest.raises(RunFailedError) as caught, EngineBackend(store) as backend:
        build_image(BuildOptions(context=context), backend)
    message = str(caught.value)
    assert message.startswith("Dockerfile:3: RUN echo 'something broke' >&2; exit 3 failed "
                              "with exit code 3")
    assert "something broke" in message


def test_scratch_stage_with_copy_from(store: ImageStore, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox:test AS tools\nRUN mkdir /out && echo static > /out/file\n"
        "FROM scratch\nCOPY --from=tools /bin/busybox /bin/busybox\n"
        "COPY --from=tools /out/file /file\nCMD [\"/bin/busybox\", \"cat\", \"/file\"]\n")
    with EngineBackend(store) as backend:
        result = build_image(BuildOptions(context=context), backend)
    assert len(result.layers) == 2
    assert run_image(store, result, tmp_path) == "static\n"


def test_a_killed_build_is_reclaimed(store: ImageStore, tmp_path: Path) -> None:
    from stackr import syscalls
    from stackr.build.engine_backend import reclaim_stale_sessions, work_root

    stale = work_root() / "999999999-deadbeef0000"  # no such pid
    for name in ("lower", "upper", "work", "merged"):
        (stale / name).mkdir(parents=True)
    syscalls.mount("overlay", str(stale / "merged"), "overlay", 0,
                   f"lowerdir={stale / 'lower'},upperdir={stale / 'upper'},"
                   f"workdir={stale / 'work'}")
    mine = work_root() / f"{os.getpid()}-cafe00000000"
    mine.mkdir()
    assert reclaim_stale_sessions() == [str(stale)]
    assert not stale.exists() and mine.exists()
    mine.rmdir()


def test_run_has_its_own_network_namespace_on_a_build_bridge(store: ImageStore,
                                                             tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    # Only lo and eth0 (2 header lines + 2), an address and a default route via the bridge.
    (context / "Dockerfile").write_text(
        "FROM busybox:test\n"
        "RUN test $(wc -l < /proc/net/dev) -eq 4 && ip -4 addr show eth0 | grep -q inet "
        "&& ip route | grep -q '^default via'\n")
    with EngineBackend(store) as backend:
        build_image(BuildOptions(context=context), backend)
        assert backend._network is not None
        bridge = backend._network.bridge_ifname
    assert not Path(f"/sys/class/net/{bridge}").exists()  # removed with the backend


def test_run_without_a_network(store: ImageStore, tmp_path: Path) -> None:
    # build.network: none (Compose) / --network none: loopback only, no build bridge made.
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox:test\nRUN test $(wc -l < /proc/net/dev) -eq 3 && ! ip route | grep -q .\n")
    with EngineBackend(store) as backend:
        build_image(BuildOptions(context=context, network="none"), backend)
        assert backend._network is None


def test_run_gets_shm_size_extra_hosts_and_ulimits(store: ImageStore, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox:test\n"
        "RUN df -k /dev/shm | grep -q ' 131072 ' && grep -q '^10.0.0.2\tdb$' /etc/hosts "
        "&& grep -q \"$(ip -4 route | awk '/default/ {print $3}')\tgw\" /etc/hosts "
        "&& test $(ulimit -n) -eq 512\n")
    with EngineBackend(store) as backend:
        build_image(BuildOptions(context=context, shm_size=128 << 20,
                                 extra_hosts=(("db", "10.0.0.2"), ("gw", "host-gateway")),
                                 ulimits=(("nofile", 512, 512),)), backend)


def test_run_is_privileged_only_when_asked(store: ImageStore, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox:test\nRUN mkdir /m && mount -t tmpfs none /m\n")
    with EngineBackend(store) as backend:
        with pytest.raises(RunFailedError):  # Docker's default capabilities: no mount
            build_image(BuildOptions(context=context, network="none"), backend)
        build_image(BuildOptions(context=context, network="none", privileged=True), backend)
