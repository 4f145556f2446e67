"""A private Docker daemon for side-by-side benchmarks, leaving the host as it found it.

``PrivateDocker(base, tools)`` starts its own containerd and dockerd with every piece of
state under ``base``: containerd's root, state, sockets and ``opt`` directory; dockerd's
data root, exec root, pid file, socket, trust key and cgroup parent. dockerd runs with
``--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none``:
a dockerd with defaults sets the iptables FORWARD policy to DROP (which breaks the
stackr network tests that share this host), adds its NAT chains and makes ``docker0``.
Compose's project network is still a Linux bridge (``br-<id>``) with veths; without
iptables rules it is an isolated L2 segment, which is all a benchmark of ``sleep``
containers needs.

``stop()`` removes what is left in the daemon, stops dockerd then containerd (SIGTERM,
then SIGKILL after a grace period), kills shims and container processes that outlived
them, unmounts what is still mounted under ``base``, removes the cgroup parent and the
two directories containerd and dockerd make outside their roots however configured
(``/run/containerd/s`` for shim sockets, ``/run/docker/plugins``) when they were not
there before. It returns a note for each thing that needed forcing.

Why a separate containerd rather than the one dockerd supervises: dockerd uses
``/run/containerd/containerd.sock`` when a system containerd listens there, so its own
would not be guaranteed; with ``--containerd`` the one it talks to is the one started
here, with a configuration written here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Made by containerd (shim sockets: a fixed path, whatever --state says) and dockerd
# (plugin discovery) outside the roots they are given. Removed at the end if they were
# not there at the start; listed parents first.
OUTSIDE_DIRECTORIES = (
    Path("/run/containerd"),
    Path("/run/containerd/s"),
    Path("/run/docker"),
    Path("/run/docker/plugins"),
)
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 60.0
POLL_S = 0.05


class DockerUnavailable(Exception):
    """Docker cannot be measured on this host; the message says why."""


@dataclass(frozen=True)
class DockerTools:
    dockerd: Path
    containerd: Path
    docker: Path
    compose: Path


def find_tools() -> DockerTools:
    """Debian's docker.io (dockerd, containerd, the docker CLI) and docker-compose.

    The CLI next to dockerd (``/usr/bin/docker``) is preferred over the first ``docker``
    on PATH: it is the one released with the daemon.
    """
    found: dict[str, Path] = {}
    for name in ("dockerd", "containerd", "docker-compose"):
        location = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if location is None:
            raise DockerUnavailable(
                f"{name} is not installed (apt-get install docker.io docker-compose)"
            )
        found[name] = Path(location)
    beside = found["dockerd"].parent.parent / "bin" / "docker"
    cli = str(beside) if beside.is_file() else shutil.which("docker")
    if cli is None:
        raise DockerUnavailable("the docker CLI is not installed")
    return DockerTools(found["dockerd"], found["containerd"], Path(cli), found["docker-compose"])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _connects(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True


def _docker_pings(path: Path) -> bool:
    """The Engine API's ``GET /_ping`` answers 200 once the daemon serves requests."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        try:
            client.connect(str(path))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = client.recv(64)
        except OSError:
            return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer


def _mount_points_under(directory: Path) -> list[Path]:
    prefix = str(directory).rstrip("/") + "/"
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with space, tab, newline and \ octal-escaped.
            raw = line.split()[4]
            point = raw.encode().decode("unicode_escape")
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                points.append(Path(point))
    return points


def _pids_with_argument(argument: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in arguments:
            pids.append(int(entry.name))
    return pids


class PrivateDocker:
    def __init__(self, base: Path, tools: DockerTools, run_base: Path | None = None) -> None:
        """State under ``base``; the run-time state (dockerd's exec root, containerd's
        state: ``/run/docker``, ``/run/containerd`` on a standard host, a tmpfs) under
        ``run_base`` when given."""
        self.base = base
        self.run_base = run_base or base
        self.tools = tools
        self.socket_path = base / "docker.sock"
        self.containerd_socket = base / "containerd" / "containerd.sock"
        # Absolute, so runc does not nest it under the benchmark's own cgroup; a name no
        # one else uses, removed at the end.
        self.cgroup_parent = f"composebench-docker-{secrets.token_hex(4)}"
        self._containerd: subprocess.Popen[bytes] | None = None
        self._dockerd: subprocess.Popen[bytes] | None = None
        self._outside_before = {path: path.exists() for path in OUTSIDE_DIRECTORIES}

    @property
    def env(self) -> dict[str, str]:
        """An environment for docker and docker-compose that reaches only this daemon."""
        keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        return {**keep, "DOCKER_HOST": f"unix://{self.socket_path}"}

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.run_base.mkdir(parents=True, exist_ok=True)
        self._start_containerd()
        self._start_dockerd()

    def _start_containerd(self) -> None:
        root = self.base / "containerd"
        root.mkdir(exist_ok=True)
        config = root / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{root / "root"}"\n'
            f'state = "{self.run_base / "containerd-state"}"\n'
            # The CRI plugin is for Kubernetes; dockerd's own supervised containerd
            # disables it too.
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.containerd_socket}"\n'
            "[ttrpc]\n"
            f'  address = "{self.containerd_socket}.ttrpc"\n'
            '[plugins."io.containerd.internal.v1.opt"]\n'
            f'  path = "{root / "opt"}"\n'
        )
        log = root / "containerd.log"
        with open(log, "wb") as output:
            self._containerd = subprocess.Popen(
                [str(self.tools.containerd), "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=self.base, start_new_session=True,  # Ctrl-C is ours to handle
            )
        self._wait("containerd", self._containerd, log,
                   lambda: _connects(self.containerd_socket))

    def _start_dockerd(self) -> None:
        # The libtrust key defaults to /etc/docker/key.json; 20.10 moves it only through
        # the configuration file's "deprecated-key-path".
        config = self.base / "daemon.json"
        config.write_text(f'{{"deprecated-key-path": "{self.base / "key.json"}"}}\n')
        log = self.base / "dockerd.log"
        command = [
            str(self.tools.dockerd),
            "--config-file", str(config),
            "--data-root", str(self.base / "data"),
            "--exec-root", str(self.run_base / "exec"),
            "--pidfile", str(self.base / "docker.pid"),
            "-H", f"unix://{self.socket_path}",
            "--containerd", str(self.containerd_socket),
            "--iptables=false", "--ip6tables=false", "--ip-forward=false",
            "--ip-masq=false", "--bridge=none",
            "--storage-driver=overlay2",
            "--cgroup-parent", f"/{self.cgroup_parent}",
        ]
        with open(log, "wb") as output:
            self._dockerd = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=self.base, start_new_session=True,
            )
        self._wait("dockerd", self._dockerd, log, lambda: _docker_pings(self.socket_path))

    def _wait(self, name: str, process: subprocess.Popen[bytes], log: Path,
              ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if process.poll() is not None:
                raise DockerUnavailable(
                    f"{name} exited with {process.returncode} while starting:\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise DockerUnavailable(
                    f"{name} did not answer within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}"
                )
            time.sleep(POLL_S)  # a socket appearing has no event to wait on from here

    def docker(self, *arguments: str, check: bool = True) -> str:
        result = subprocess.run([str(self.tools.docker), *arguments], env=self.env,
                                capture_output=True, text=True, check=False, timeout=300)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(arguments)} failed: {result.stderr.strip()}")
        return result.stdout

    def versions(self) -> str:
        server = self.docker("version", "--format", "{{.Server.Version}}").strip()
        compose = subprocess.run([str(self.tools.compose), "version", "--short"],
                                 env=self.env, capture_output=True, text=True,
                                 check=False).stdout.strip()
        return f"docker-compose {compose or '?'} + Docker {server}"

    def import_rootfs(self, rootfs: Path, reference: str) -> None:
        """``docker import`` of a tar of ``rootfs``: the same files stackr imports."""
        archive = self.base / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        self.docker("import", str(archive), reference)
        archive.unlink()

    def stop(self) -> list[str]:
        notes: list[str] = []
        if self._dockerd is not None and self._dockerd.poll() is None:
            # Whatever a failed or interrupted run left; everything here is ours.
            containers = self.docker("ps", "-aq", check=False).split()
            if containers:
                notes.append(f"removed {len(containers)} containers left in the daemon")
                self.docker("rm", "-f", *containers, check=False)
            self.docker("network", "prune", "-f", check=False)
        notes += self._terminate("dockerd", self._dockerd)
        notes += self._terminate("containerd", self._containerd)
        notes += self._kill_strays()
        notes += self._unmount()
        notes += self._remove_cgroups()
        notes += self._remove_outside_directories()
        return notes

    def _terminate(self, name: str, process: subprocess.Popen[bytes] | None) -> list[str]:
        if process is None or process.poll() is not None:
            return []
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return [f"{name} ignored SIGTERM for {STOP_GRACE_S:.0f} s and was killed"]
        return []

    def _kill_strays(self) -> list[str]:
        """Shims (which outlive containerd by design) and their containers' processes."""
        notes = []
        for pid in _pids_with_argument(str(self.containerd_socket)):
            notes.append(f"killed a containerd shim that outlived containerd (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for directory in self._cgroup_directories():
            procs = directory / "cgroup.procs"
            if not procs.is_file():
                continue
            for line in procs.read_text().split():
                notes.append(f"killed a container process left in {directory} (pid {line})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line), signal.SIGKILL)
        return notes

    def _unmount(self) -> list[str]:
        notes = []
        # Deepest first (overlay2 bind-mounts the data root on itself, with the
        # containers' overlays below it); a clean dockerd shutdown leaves none.
        points = set(_mount_points_under(self.base)) | set(_mount_points_under(self.run_base))
        for point in sorted(points, key=lambda p: len(p.parts), reverse=True):
            result = subprocess.run(["umount", "-l", str(point)], capture_output=True,
                                    text=True, check=False)
            notes.append(f"unmounted {point} (dockerd left it mounted)")
            if result.returncode != 0:
                notes.append(f"could not unmount {point}: {result.stderr.strip()}")
        return notes

    def _cgroup_directories(self) -> list[Path]:
        """Every directory of the cgroup parent in every hierarchy, deepest first."""
        directories: list[Path] = []
        if not CGROUP_ROOT.is_dir():
            return directories
        for hierarchy in sorted(CGROUP_ROOT.iterdir()):
            top = hierarchy / self.cgroup_parent
            if hierarchy.is_symlink() or not top.is_dir():
                continue
            for current, children, _files in os.walk(top, topdown=False):
                del children
                directories.append(Path(current))
        return directories

    def _remove_cgroups(self) -> list[str]:
        notes = []
        for directory in self._cgroup_directories():
            # Waiting, because a killed process leaves its cgroup a moment after the
            # signal; rmdir fails with EBUSY until then.
            deadline = time.monotonic() + 10
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if time.monotonic() > deadline:
                        notes.append(f"could not remove cgroup {directory}: {error}")
                        break
                    time.sleep(POLL_S)
        return notes

    def _remove_outside_directories(self) -> list[str]:
        notes = []
        for path in reversed(OUTSIDE_DIRECTORIES):
            if self._outside_before[path] or not path.exists():
                continue
            try:
                path.rmdir()
            except OSError as error:
                notes.append(f"could not remove {path} (made by this run): {error}")
        return notes
