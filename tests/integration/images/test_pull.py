"""Pulls from a real Distribution registry (Debian's docker-registry) on loopback."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackr.images import ImageStore, Phase, ProgressEvent
from stackr.images.errors import (
    AuthenticationError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
)
from stackr.images.platform import host_platform
from stackr.images.reference import parse_reference
from stackr.images.registry import RegistryClient
from stackr.images.settings import certs_dir
from tests.fixtures import images as fx
from tests.fixtures.registry import (
    RegistryServer,
    TokenIssuer,
    make_tls_certificate,
    push_image,
    push_manifest,
    running_registry,
)

E = fx.TarEntry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with running_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def store() -> ImageStore:
    return ImageStore()


@pytest.fixture(autouse=True)
def no_docker_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return home


class Recorder:
    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append(event)

    def phases(self, phase: Phase) -> list[ProgressEvent]:
        return [e for e in self.events if e.phase is phase]


def test_pull_unpacks_and_names_the_image(registry: RegistryServer, store: ImageStore) -> None:
    image = fx.busybox_image()
    manifest_digest = push_image(registry, "stackr/busybox", "1", image)
    progress = Recorder()
    record = store.pull(f"{registry.host}/stackr/busybox:1", progress)
    assert record.id == image.image_id
    assert record.repo_tags == (f"{registry.host}/stackr/busybox:1",)
    assert record.repo_digests == (f"{registry.host}/stackr/busybox@{manifest_digest}",)
    top, base = store.layer_dirs(record)
    assert (base / "bin" / "busybox").read_bytes() == fx.BUSYBOX.read_bytes()
    assert stat.S_ISCHR((top / "etc" / "removed").lstat().st_mode)
    assert {e.layer for e in progress.phases(Phase.DONE)} == set(image.layer_digests)
    assert os.listdir(store.download_dir()) == []  # blobs are not kept once unpacked
    assert store.resolve(f"{registry.host}/stackr/busybox@{manifest_digest}") == record


def test_pulling_twice_downloads_nothing(registry: RegistryServer, store: ImageStore) -> None:
    image = fx.busybox_image()
    push_image(registry, "stackr/busybox", "1", image)
    store.pull(f"{registry.host}/stackr/busybox:1")
    progress = Recorder()
    store.pull(f"{registry.host}/stackr/busybox:1", progress)
    assert progress.phases(Phase.DOWNLOADING) == []
    assert {e.layer for e in progress.phases(Phase.EXISTS)} == set(image.layer_digests)


def test_pull_by_digest_with_docker_media_types(
    registry: RegistryServer, store: ImageStore
) -> None:
    image = fx.busybox_image(docker_media_types=True)
    digest = push_image(registry, "stackr/dockerish", "v2", image)
    record = store.pull(f"{registry.host}/stackr/dockerish@{digest}")
    assert record.id == image.image_id
    assert record.repo_tags == ()
    assert record.repo_digests == (f"{registry.host}/stackr/dockerish@{digest}",)


@pytest.mark.parametrize("docker_media_types", [False, True], ids=["oci-index", "docker-list"])
def test_manifest_list_resolves_to_the_host_platform(
    docker_media_types: bool, registry: RegistryServer, store: ImageStore
) -> None:
    _, architecture, _ = host_platform()
    other = "arm64" if architecture != "arm64" else "amd64"
    ours = fx.busybox_image(architecture=architecture, docker_media_types=docker_media_types)
    theirs = fx.build_image(
        [fx.layer_tar([E("wrong-platform", data=b"x")])],
        architecture=other,
        docker_media_types=docker_media_types,
    )
    for built in (ours, theirs):
        push_image(registry, "stackr/multi", None, built)
    index = fx.image_index(
        {f"linux/{other}/v8": theirs, f"linux/{architecture}": ours}, docker_media_types
    )
    media_type = fx.MEDIA_DOCKER_LIST if docker_media_types else fx.MEDIA_OCI_INDEX
    push_manifest(registry, "stackr/multi", "latest", index, media_type)
    record = store.pull(f"{registry.host}/stackr/multi")
    assert record.id == ours.image_id
    assert record.architecture == architecture


def test_unknown_image(registry: RegistryServer, store: ImageStore) -> None:
    with pytest.raises(ImageNotFoundError, match="stackr/absent"):
        store.pull(f"{registry.host}/stackr/absent:1")


def test_a_corrupted_blob_is_refused(registry: RegistryServer, store: ImageStore) -> None:
    image = fx.busybox_image()
    push_image(registry, "stackr/busybox", "1", image)
    blob = registry.blob_data_path(image.layer_digests[0])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    blob.write_bytes(bytes(data))
    before = fx.directory_snapshot(store.root)
    with pytest.raises(DigestMismatchError, match=image.layer_digests[0]):
        store.pull(f"{registry.host}/stackr/busybox:1")
    assert store.list() == []
    after = fx.directory_snapshot(store.root)
    # the other, intact layer stays for the next try: downloaded and verified if it was
    # done first, else as a resumable partial file (the failure stops downloads in
    # flight at their next chunk). The corrupt one leaves nothing, since resuming it
    # could never succeed.
    kept = {name for name in after.keys() - before.keys() if name.startswith("downloads/")}
    intact = f"downloads/{image.layer_digests[1].removeprefix('sha256:')}"
    assert kept in ({intact}, {f"{intact}.partial"})
    assert {k: v for k, v in after.items() if k not in kept} == before


class Interrupt(Exception):
    pass


def test_an_interrupted_download_resumes(registry: RegistryServer, store: ImageStore) -> None:
    big = os.urandom(3 << 20)  # incompressible: the blob is ~3 MB, several progress steps
    image = fx.build_image([fx.layer_tar([E("random.bin", data=big)])])
    push_image(registry, "stackr/big", "1", image)
    (digest,) = image.layer_digests

    def interrupt(event: ProgressEvent) -> None:
        if event.phase is Phase.DOWNLOADING and event.current > 0:
            raise Interrupt  # as a dropped connection or Ctrl-C mid-download

    with pytest.raises(Interrupt):
        store.pull(f"{registry.host}/stackr/big:1", interrupt)
    partial = store.download_dir() / f"{digest.removeprefix('sha256:')}.partial"
    kept = partial.stat().st_size
    assert 0 < kept < len(image.blobs[0])
    assert store.list() == []

    progress = Recorder()
    record = store.pull(f"{registry.host}/stackr/big:1", progress)
    first_download = progress.phases(Phase.DOWNLOADING)[0]
    assert first_download.current == kept  # asked with Range: bytes=<kept>-
    assert first_download.total == len(image.blobs[0])
    (layer,) = store.layer_dirs(record)
    assert (layer / "random.bin").read_bytes() == big
    assert not partial.exists()


def test_basic_auth_with_docker_config_credentials(
    tmp_path: Path, store: ImageStore, no_docker_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_registry(tmp_path / "secured", credentials=("tester", "s3cret")) as registry:
        image = fx.busybox_image()
        push_image(registry, "private/busybox", "1", image)
        reference = f"{registry.host}/private/busybox:1"
        with pytest.raises(AuthenticationError, match="no credentials"):
            store.pull(reference)

        config_dir = tmp_path / "docker-config"
        config_dir.mkdir()
        wrong = base64.b64encode(b"tester:wrong").decode()
        (config_dir / "config.json").write_text(
            json.dumps({"auths": {registry.host: {"auth": wrong}}})
        )
        monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
        with pytest.raises(AuthenticationError):
            store.pull(reference)

        monkeypatch.delenv("DOCKER_CONFIG")
        docker_dir = no_docker_credentials / ".docker"
        docker_dir.mkdir()
        auth = base64.b64encode(b"tester:s3cret").decode()
        (docker_dir / "config.json").write_text(
            json.dumps({"auths": {f"http://{registry.host}/v2/": {"auth": auth}}})
        )
        record = store.pull(reference)
        assert record.id == image.image_id


def test_bearer_token_flow(tmp_path: Path, store: ImageStore, no_docker_credentials: Path) -> None:
    with (
        TokenIssuer(tmp_path / "tokens", ("robot", "t0ken")) as issuer,
        running_registry(tmp_path / "token-registry", token_issuer=issuer) as registry,
    ):
        image = fx.busybox_image()
        push_image(registry, "private/busybox", "1", image)
        reference = f"{registry.host}/private/busybox:1"
        with pytest.raises(AuthenticationError, match="token service refused"):
            store.pull(reference)

        docker_dir = no_docker_credentials / ".docker"
        docker_dir.mkdir()
        auth = base64.b64encode(b"robot:t0ken").decode()
        (docker_dir / "config.json").write_text(
            json.dumps({"auths": {registry.host: {"auth": auth}}})
        )
        issuer.requests.clear()
        record = store.pull(reference)
        assert record.id == image.image_id
        assert issuer.requests, "the token endpoint was never asked"
        request = issuer.requests[0]
        assert request["scope"] == "repository:private/busybox:pull"
        assert request["service"] == TokenIssuer.service
        assert request["authorization"].startswith("Basic ")
        assert len(issuer.requests) == 1  # one token serves the manifest and every blob


def test_https_registry_with_a_private_ca(tmp_path: Path, store: ImageStore) -> None:
    cert, key = make_tls_certificate(tmp_path / "tls")
    with running_registry(tmp_path / "tls-registry", tls=(cert, key)) as registry:
        image = fx.busybox_image()
        push_image(registry, "secure/busybox", "1", image)
        reference = parse_reference(f"{registry.host}/secure/busybox:1")
        # a registry that is not insecure: its certificate must verify
        strict = RegistryClient(registry.host, plain_http_allowed=False)
        with pytest.raises(RegistryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            strict.resolve_image(reference)
        ca_dir = certs_dir(registry.host)
        ca_dir.mkdir(parents=True)
        (ca_dir / "ca.crt").write_bytes(cert.read_bytes())
        from stackr.images.settings import RegistrySettings

        trusted = RegistryClient(
            registry.host,
            plain_http_allowed=False,
            tls=RegistrySettings().tls_context(registry.host),
        )
        assert trusted.resolve_image(reference).config_digest == image.config_digest
        # the store's pull speaks HTTPS to it (loopback: HTTPS first, as Docker)
        assert store.pull(str(reference)).id == image.image_id


def test_a_blob_left_by_a_crash_is_checked_before_use(
    registry: RegistryServer, store: ImageStore
) -> None:
    """Downloaded blobs are not fsynced (they are unpacked and deleted at once): one a
    crash left behind may be cut short, so it is verified, and fetched again if bad."""
    image = fx.busybox_image()
    push_image(registry, "stackr/busybox", "1", image)
    good, cut = image.layer_digests
    (store.download_dir() / good.removeprefix("sha256:")).write_bytes(image.blobs[0])
    (store.download_dir() / cut.removeprefix("sha256:")).write_bytes(image.blobs[1][:100])
    progress = Recorder()
    record = store.pull(f"{registry.host}/stackr/busybox:1", progress)
    assert [e.layer for e in progress.phases(Phase.DOWNLOADING)][:1] == [cut]
    assert good not in {e.layer for e in progress.phases(Phase.DOWNLOADING)}
    assert len(store.layer_dirs(record)) == 2
    assert os.listdir(store.download_dir()) == []
