"""Containers: the records, the lifecycle through ``stackr.runtime`` and the supervision.

**Who watches a container.** The runtime's fork server adopts every container's
PID 1, reaps it and writes its exit status to the runtime's state dir, so an exit is
never lost, even while no engine runs (the server outlives the engine while any of
its containers runs). The engine
(a child subreaper) waits for every running container's PID 1 in one thread
(``exits.ExitWatcher``: a pidfd each, no polling); on an exit, a thread of that exit
calls ``runtime.wait`` (which returns at once), records the exit (code, signal, OOM
kill, finish time), publishes ``die``, and applies the restart policy with back-off.

**Re-adoption.** On start, the engine walks its records: a container the runtime
says is still running gets a new watcher and a new log reader (its FIFOs are where
they were); one that exited meanwhile gets its exit recorded from the runtime's
``exit.json`` (and its restart policy applied); one whose run state vanished (a
reboot) is recorded as exited.

Locking: one lock per container for lifecycle changes; it is never held while waiting
for a process, so ``stop`` and the watcher cannot deadlock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal as signals
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from stackr.engine import logs
from stackr.engine.attach import Attachments, resize_terminal
from stackr.engine.createbody import (
    check_create_body,
    parse_size,
    signal_number,
    to_runtime_spec,
)
from stackr.engine.events import EventBus
from stackr.engine.exits import ExitWatcher
from stackr.engine.networks import NetworkManager, network_names
from stackr.engine.records import RecordStore, is_valid_name
from stackr.engine.restart import Backoff, RestartPolicy
from stackr.engine.routing import ApiError, bad_request, conflict, not_found
from stackr.engine.timetext import duration_text
from stackr.engine.volumes import labels_match
from stackr.errors import HostError, StackrError
from stackr.paths import run_root

JsonObject = dict[str, Any]

KILL_WAIT_SECONDS = 10.0
DEFAULT_STOP_TIMEOUT = 10
WAIT_SLICE_SECONDS = 1.0


def now_text() -> str:
    return logs.rfc3339(time.time_ns())


def _time_text(timestamp: float | None) -> str:
    if not timestamp:
        return "0001-01-01T00:00:00Z"
    return logs.rfc3339(int(timestamp * 1_000_000_000))


def _parse_time(text: str | None) -> float:
    if not text or text.startswith("0001"):
        return 0.0
    return logs.parse_rfc3339_ns(text) / 1e9


@dataclass
class Run:
    """One run of a container (between a start and its exit)."""

    pump: logs.LogPump | None
    started_monotonic: float
    exited: threading.Event = field(default_factory=threading.Event)
    # Held while it runs (``_hold``), closed once its exit is recorded: PID 1's pidfd,
    # to signal it without looking it up again, and its mount namespace, so that the
    # namespace is taken apart after the exit (overlay unmount, an RCU grace period:
    # ~3 ms) instead of within it, which a stop waits for.
    pidfd: int | None = None
    mount_namespace: int | None = None

    def release(self) -> None:
        for fd in (self.pidfd, self.mount_namespace):
            if fd is not None:
                os.close(fd)
        self.pidfd = self.mount_namespace = None


@dataclass
class Prepared:
    """A container built by the runtime and waiting for its start (``_prepare_locked``)."""

    stdin_once: bool = False
    pump: Any = None  # the logs.LogPump to start with it
    terminal: int | None = None  # the pty master (tty: true), owned by the pump
    stdin_input: int | None = None  # the engine's end of the container's stdin


@dataclass
class Supervised:
    container_id: str
    record: JsonObject
    lock: threading.RLock = field(default_factory=threading.RLock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    run: Run | None = None
    writer: logs.LogWriter | None = None
    backoff: Backoff = field(default_factory=Backoff)
    attachments: Attachments = field(default_factory=Attachments)
    prepared: Prepared | None = None  # built at create, waiting for the first start
    restart_timer: threading.Timer | None = None
    exit_count: int = 0
    removed: bool = False
    health: Any = None  # a health.HealthMonitor while a healthcheck runs

    @property
    def state(self) -> JsonObject:
        state: JsonObject = self.record["State"]
        return state

    @property
    def name(self) -> str:
        name: str = self.record["Name"]
        return name

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.record["Config"].get("Labels", {})
        return labels


def _hold(run: Run, pidfd: int, pid: int) -> None:
    """Keep PID 1's pidfd (a copy: the watcher closes its own) and mount namespace in
    ``run`` (see ``Run``). The namespace is opened by pid, so it is kept only if the
    pidfd shows that pid still to be PID 1, not a reuse."""
    run.pidfd = os.dup(pidfd)
    try:
        namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # exited already: nothing to hold
    if select.select([pidfd], [], [], 0)[0]:  # exited meanwhile: the pid may be reused
        os.close(namespace)
        return
    run.mount_namespace = namespace


def _initial_state() -> JsonObject:
    return {
        "Status": "created", "Running": False, "Paused": False, "Restarting": False,
        "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
        "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z",
    }


def _runtime() -> Any:
    from stackr.runtime import container

    return container


class ContainerManager:
    def __init__(self, events: EventBus, stopping: threading.Event,
                 runtime: Callable[[], Any] = _runtime) -> None:
        self.events = events
        self.stopping = stopping
        self.runtime = runtime
        self.exits = ExitWatcher(stopping)
        self.records = RecordStore("containers")
        self.volume_path: Callable[[str], str] = lambda name: name
        self.image_store: Callable[[], Any] = _no_image_store
        self.networks: NetworkManager | None = None
        self._lock = threading.Lock()
        self._containers: dict[str, Supervised] = {}
        self._names: dict[str, str] = {}
        for container_id, record in self.records.items():
            self._containers[container_id] = Supervised(container_id, record)
            self._names[record["Name"]] = container_id

    # -- lookup ---------------------------------------------------------------------

    def get(self, ref: str) -> Supervised:
        """By full id, name (with or without "/"), or unique id prefix."""
        key = ref.lstrip("/")
        with self._lock:
            if key in self._containers:
                return self._containers[key]
            if key in self._names:
                return self._containers[self._names[key]]
            if len(key) >= 3 and is_valid_name(key):
                matches = [cid for cid in self._containers if cid.startswith(key)]
                if len(matches) == 1:
                    return self._containers[matches[0]]
                if len(matches) > 1:
                    raise bad_request(f"container id prefix {key!r} is ambiguous")
        raise not_found(f"no such container: {ref}")

    def all(self) -> list[Supervised]:
        with self._lock:
            return sorted(self._containers.values(), key=lambda c: c.record["Created"])

    def counts(self) -> dict[str, int]:
        total = running = paused = 0
        for supervised in self.all():
            total += 1
            running += supervised.state["Status"] in ("running", "restarting")
            paused += supervised.state["Status"] == "paused"
        return {"total": total, "running": running, "paused": paused,
                "stopped": total - running - paused}

    def while_stopped(self, container_id: str, action: Callable[[], None] | None) -> bool:
        """Run ``action`` under the container's lock if it is neither running, paused nor
        restarting (nor starting: a start holds the lock); False, and nothing run, if it
        is. A container the engine does not know counts as stopped. ``action`` None:
        only ask."""
        with self._lock:
            supervised = self._containers.get(container_id)
        if supervised is None:
            if action is not None:
                action()
            return True
        with supervised.lock:
            if supervised.state["Status"] in ("running", "paused", "restarting"):
                return False
            if action is not None:
                # A created container was prepared with what the action may take away
                # (its network): its start prepares it again.
                self._discard_prepared(supervised)
                action()
        return True

    def users_of_volume(self, volume_name: str) -> list[str]:
        users = []
        for supervised in self.all():
            for mount in supervised.record.get("Mounts", []):
                if mount.get("Type") == "volume" and mount.get("Name") == volume_name:
                    users.append(supervised.container_id)
        return users

    def _save(self, supervised: Supervised, durable: bool = True) -> None:
        self.records.put(supervised.container_id, supervised.record, durable=durable)
        with supervised.changed:
            supervised.changed.notify_all()

    def _publish(self, supervised: Supervised, action: str, **extra: str) -> None:
        config = supervised.record["Config"]
        attributes = {**supervised.labels, "name": supervised.name,
                      "image": config.get("Image") or config.get("RootfsDir") or "", **extra}
        self.events.publish("container", action, supervised.container_id, attributes)

    # -- create ---------------------------------------------------------------------

    def image_ids_in_use(self) -> set[str]:
        return {c.record["Config"]["ImageId"] for c in self.all()
                if c.record["Config"].get("ImageId")}

    def _apply_image(self, body: JsonObject, config: JsonObject) -> JsonObject:
        """Resolve ``Image`` in the store: its layers, and its defaults for what the
        body leaves unset (command, environment, working dir, user, stop signal,
        healthcheck), as Docker does."""
        from stackr.images import effective_process
        from stackr.images.config import effective_stop_signal
        from stackr.images.errors import ImageError, InvalidReferenceError

        store = self.image_store()
        reference = config["Image"]
        try:
            image = store.resolve(reference)
            if image is None:
                raise not_found(f"no such image: {reference} (pull or load it first)")
            layer_dirs = [str(path) for path in reversed(store.layer_dirs(image))]
            environment = dict(item.split("=", 1) for item in config["Env"])
            process = effective_process(
                image.config,
                command=config["Cmd"] or None,
                entrypoint=body.get("Entrypoint"),
                environment=environment,
                working_dir=config.get("WorkingDir") or None,
                user=config.get("User"),
            )
        except (InvalidReferenceError, ImageError) as error:
            raise bad_request(f"image {reference}: {error}") from None
        resolved = {
            **config, "ImageId": image.id, "LayerDirs": layer_dirs, "Entrypoint": [],
            "Cmd": list(process.args), "Env": list(process.env),
            "WorkingDir": process.working_dir, "User": process.user,
            "StopSignal": effective_stop_signal(image.config, config.get("StopSignal")),
        }
        health = image.config.healthcheck
        if "Healthcheck" not in config and health is not None:
            resolved["Healthcheck"] = {
                "Test": list(health.test), "Interval": health.interval_ns,
                "Timeout": health.timeout_ns, "StartPeriod": health.start_period_ns,
                "StartInterval": health.start_interval_ns, "Retries": health.retries,
            }
        return resolved

    def create(self, body: JsonObject, name: str | None) -> JsonObject:
        config = check_create_body(body)
        if config.get("Image") and not config.get("RootfsDir") and not config.get("LayerDirs"):
            config = self._apply_image(body, config)
        container_id = os.urandom(32).hex()
        if name is not None:
            name = name.lstrip("/")
            if not is_valid_name(name):
                raise bad_request(f"invalid container name {name!r}: use "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-]+")
        else:
            name = f"stackr_{container_id[:12]}"
        mounts = self._mounts_of(config)
        for network in network_names(config["HostConfig"], config.get("NetworkingConfig")):
            if self.networks is None:
                raise bad_request("this engine has no networks")
            self.networks.require(network)
        # Build the runtime spec once now: a bad config fails create, not start.
        self._spec(container_id, config)
        record: JsonObject = {
            "Id": container_id,
            "Name": name,
            "Created": now_text(),
            "Config": {k: v for k, v in config.items() if k != "HostConfig"},
            "HostConfig": config["HostConfig"],
            "Mounts": mounts,
            "RestartCount": 0,
            "StoppedByUser": False,
            "State": _initial_state(),
            "LogPath": str(logs.log_file(container_id)),
        }
        with self._lock:
            if name in self._names:
                raise conflict(f"container name {name!r} is already in use by container "
                               f"{self._names[name]}")
            supervised = Supervised(container_id, record)
            self._names[name] = container_id
            self._containers[container_id] = supervised
        self._save(supervised)
        self._publish(supervised, "create")
        if not any((config["HostConfig"].get(key) or "").startswith("container:")
                   for key in ("NetworkMode", "IpcMode", "PidMode")):
            # (one that joins another's namespaces, which may not run yet, is prepared
            # at its start)
            self._prepare_early(supervised)
        return {"Id": container_id, "Warnings": []}

    def _prepare_early(self, supervised: Supervised) -> None:
        """Prepare at create; a failure here is not the create's: start tries again and
        reports it."""
        with supervised.lock:
            try:
                supervised.prepared = self._prepare_locked(supervised)
            except (ApiError, StackrError, OSError):
                supervised.state.update({"Error": "", "ExitCode": 0})
                self._save(supervised)

    def _mounts_of(self, config: JsonObject) -> list[JsonObject]:
        host = config["HostConfig"]
        mounts = []
        for bind in host.get("Binds") or []:
            parts = bind.split(":")
            if len(parts) < 2:
                raise bad_request(f"HostConfig.Binds: {bind!r} is not source:target[:mode]")
            kind = "bind" if parts[0].startswith("/") else "volume"
            if kind == "volume" and not is_valid_name(parts[0]):
                raise bad_request(f"HostConfig.Binds: invalid volume name {parts[0]!r}")
            mounts.append({"Type": kind, "Name": parts[0] if kind == "volume" else "",
                           "Source": parts[0], "Destination": parts[1],
                           "RW": not (len(parts) == 3 and "ro" in parts[2].split(","))})
        for mount in host.get("Mounts") or []:
            if isinstance(mount, dict) and mount.get("Type", "volume") == "volume":
                source = mount.get("Source") or ""
                if not is_valid_name(source):
                    raise bad_request(f"HostConfig.Mounts: invalid volume name {source!r}")
                mounts.append({"Type": "volume", "Name": source, "Source": source,
                               "Destination": mount.get("Target"),
                               "RW": not mount.get("ReadOnly")})
        return mounts

    def _spec(self, container_id: str, config: JsonObject) -> Any:
        try:
            return to_runtime_spec(container_id, config, self.volume_path)
        except ApiError:
            raise
        except StackrError as error:
            raise bad_request(str(error)) from None

    # -- start ----------------------------------------------------------------------

    def start(self, ref: str) -> bool:
        """Start; False when it was already running (HTTP 304)."""
        supervised = self.get(ref)
        with supervised.lock:
            if supervised.state["Status"] == "running":
                return False
            if supervised.restart_timer is not None:
                supervised.restart_timer.cancel()
                supervised.restart_timer = None
            supervised.record["StoppedByUser"] = False
            self._start_locked(supervised)
        return True

    def _start_locked(self, supervised: Supervised) -> None:
        prepared, supervised.prepared = supervised.prepared, None
        if prepared is None:
            prepared = self._prepare_locked(supervised)
        try:
            state = self.runtime().start(supervised.container_id)
        except Exception as error:
            self._abandon(supervised, prepared, error)
        if prepared.terminal is not None:
            supervised.attachments.set_input(prepared.terminal, terminal=prepared.terminal)
        elif prepared.stdin_input is not None:
            supervised.attachments.set_input(prepared.stdin_input, owned=True,
                                             eof_closes=prepared.stdin_once)
        prepared.pump.start()
        run = Run(prepared.pump, time.monotonic())
        supervised.run = run
        supervised.state.update({
            "Status": "running", "Running": True, "Restarting": False, "Pid": state.pid or 0,
            "ExitCode": 0, "Error": "", "OOMKilled": False,
            "StartedAt": _time_text(state.started_at or time.time()),
            "FinishedAt": "0001-01-01T00:00:00Z",
        })
        self._save(supervised)
        self._publish(supervised, "start")
        self._watch(supervised, run)
        self._start_health(supervised)

    def _prepare_locked(self, supervised: Supervised) -> Prepared:
        """Everything of a start but the start itself: networks wired, log FIFOs, and the
        runtime's container built, its PID 1 waiting for ``start`` (runc's create).

        ``create`` prepares at once, so that a stack's containers are built in parallel
        and a chain of ``depends_on`` only waits for the starts (a few ms each); a
        container prepared by an engine that has since gone is prepared again.
        """
        runtime = self.runtime()
        from stackr.runtime.spec import ContainerStdio

        container_id = supervised.container_id
        config = {**supervised.record["Config"], "HostConfig": supervised.record["HostConfig"]}
        spec = self._join_namespaces(supervised, self._spec(container_id, config))
        if supervised.writer is None:
            supervised.writer = _log_writer(supervised)
        spec = self._wire_networks(supervised, spec)
        fifos = logs.make_fifos(container_id)
        ends = {} if spec.tty else logs.open_container_ends(fifos)
        prepared = Prepared(stdin_once=bool(config.get("StdinOnce")))
        if config.get("OpenStdin") and not spec.tty:
            if prepared.stdin_once:
                # A one-off (compose run): a pipe, whose end the attached client's end
                # of input brings about.
                ends["stdin"], prepared.stdin_input = os.pipe2(os.O_CLOEXEC)
            else:
                ends["stdin"] = logs.open_stdin_end(container_id)
                prepared.stdin_input = logs.open_stdin_writer(container_id)
        try:
            if spec.tty:
                prepared.pump, prepared.terminal = self._create_with_terminal(supervised, spec)
            else:
                # The engine's read ends are opened while the container's ends are open,
                # so they only see EOF once every process of the container has exited.
                prepared.pump = logs.LogPump(container_id, supervised.writer,
                                             attachments=supervised.attachments)
                runtime.create(spec, ContainerStdio(
                    stdin=ends.get("stdin"), stdout=ends["stdout"], stderr=ends["stderr"]))
        except Exception as error:
            for descriptor in ends.values():
                os.close(descriptor)
            self._abandon(supervised, prepared, error)
        for descriptor in ends.values():
            os.close(descriptor)
        return prepared

    def _abandon(self, supervised: Supervised, prepared: Prepared, error: Exception
                 ) -> NoReturn:
        """A prepare or start failed: drain what it wrote, remove the runtime's container,
        record the error, raise it as the API's error."""
        self._release(supervised, prepared)
        supervised.state.update({"Status": "exited" if supervised.exit_count else "created",
                                 "Error": str(error), "ExitCode": 128})
        self._save(supervised)
        if isinstance(error, StackrError):
            raise ApiError(500 if not isinstance(error, ValueError) else 400,
                           f"container {supervised.name}: cannot start: {error}") from None
        raise error

    def _discard_prepared(self, supervised: Supervised) -> None:
        """Take a prepared, never started container back to a bare record."""
        prepared, supervised.prepared = supervised.prepared, None
        if prepared is not None:
            self._release(supervised, prepared)
            if prepared.pump is not None:
                prepared.pump.join(5)

    def _release(self, supervised: Supervised, prepared: Prepared) -> None:
        """A preparation that will not start: its runtime container goes, and its log
        pump drains what the setup wrote, then ends at EOF (no process holds the FIFOs)."""
        with contextlib.suppress(Exception):
            self.runtime().delete(supervised.container_id, force=True)
        if prepared.pump is not None:
            prepared.pump.start()
        if prepared.stdin_input is not None:
            os.close(prepared.stdin_input)

    def _join_namespaces(self, supervised: Supervised, spec: Any) -> Any:
        """``IpcMode``/``PidMode: container:NAME``: that running container's namespace."""
        import dataclasses

        joins = {}
        for key, field_name, kind in (("IpcMode", "ipc_namespace", "ipc"),
                                      ("PidMode", "pid_namespace", "pid")):
            mode = supervised.record["HostConfig"].get(key) or ""
            if mode.startswith("container:"):
                owner = self.running(mode[len("container:"):])
                joins[field_name] = f"/proc/{owner.state['Pid']}/ns/{kind}"
        return dataclasses.replace(spec, **joins) if joins else spec

    def _wire_networks(self, supervised: Supervised, spec: Any) -> Any:
        """Join the container's sandbox (made on first start) when it is on networks."""
        import dataclasses

        from stackr.runtime.spec import NetworkSpec

        record = supervised.record
        config = record["Config"]
        network_mode = record["HostConfig"].get("NetworkMode") or ""
        if network_mode.startswith("container:"):
            return self._share_network(supervised, spec, network_mode[len("container:"):])
        endpoints = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if self.networks is None or not network_names(record["HostConfig"],
                                                      config.get("NetworkingConfig")):
            return spec
        names = [supervised.name, supervised.container_id[:12]]
        wiring = self.networks.connect(
            # (no hostname of its own: uts host, the host's name)
            supervised.container_id, supervised.name, spec.hostname or os.uname().nodename,
            names, endpoints,
            record["HostConfig"],
        )
        record["NetworkSettings"] = {
            "Networks": {name: {"IPAddress": address}
                         for name, address in wiring.addresses.items()},
            "Ports": wiring.ports,
            "SandboxKey": wiring.netns_path,
        }
        return dataclasses.replace(
            spec, network=NetworkSpec("join", wiring.netns_path),
            resolv_conf_file=wiring.resolv_conf_file, hosts_file=wiring.hosts_file,
        )

    def _share_network(self, supervised: Supervised, spec: Any, ref: str) -> Any:
        """``NetworkMode: container:NAME`` (Compose's ``network_mode: service:x``): join
        that running container's network namespace and use its hosts and resolv.conf."""
        import dataclasses

        from stackr.runtime.spec import NetworkSpec

        owner = self.running(ref)
        settings = owner.record.get("NetworkSettings") or {}
        sandbox = settings.get("SandboxKey")
        if not sandbox:
            raise conflict(f"container {owner.name} has no network namespace to share "
                           f"(its network mode is {owner.record['HostConfig'].get('NetworkMode')})")
        supervised.record["NetworkSettings"] = {"Networks": {}, "Ports": {},
                                                "SandboxKey": sandbox}
        etc = run_root() / "engine" / "etc" / owner.container_id
        return dataclasses.replace(
            spec, network=NetworkSpec("join", sandbox),
            resolv_conf_file=str(etc / "resolv.conf"), hosts_file=str(etc / "hosts"),
        )

    def _create_with_terminal(self, supervised: Supervised, spec: Any
                              ) -> tuple[logs.LogPump, int]:
        """``tty: true``: the container makes a pty of its own devpts and hands the master
        over a console socket; the engine holds it and logs what the terminal shows.
        The master lives in the engine: if the engine is killed, the terminal hangs up
        (Docker keeps it in the container's shim)."""
        import socket

        from stackr.runtime.spec import ContainerStdio

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with ours, theirs:
            self.runtime().create(spec, ContainerStdio(console_socket=theirs.fileno()))
            theirs.close()
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
        if not fds:
            raise HostError("receive the terminal of", supervised.name, errno.EPROTO)
        size = supervised.record["HostConfig"].get("ConsoleSize")
        if size:  # before start: the command's first look at its terminal sees the size
            resize_terminal(fds[0], size[0], size[1])
        assert supervised.writer is not None
        pump = logs.LogPump(supervised.container_id, supervised.writer, terminal=fds[0],
                            attachments=supervised.attachments)
        return pump, fds[0]

    def _watch(self, supervised: Supervised, run: Run) -> None:
        name = f"watch-{supervised.container_id[:12]}"
        pidfd = self._pid1_pidfd(supervised)
        if pidfd is not None:
            _hold(run, pidfd, supervised.state["Pid"])
            self.exits.watch(pidfd, lambda: self._watch_run(supervised, run), name)
            return
        # No PID 1 to watch (it exited already, or the runtime keeps no pid): a thread
        # of its own learns how from ``runtime.wait``.
        threading.Thread(target=self._watch_run, args=(supervised, run), name=name,
                         daemon=True).start()

    def _pid1_pidfd(self, supervised: Supervised) -> int | None:
        """A pidfd of the running container's PID 1, or None.

        Opened before the runtime confirms that this pid is still the container's
        (its state compares the pid's start time): a pid reused in between would fail
        that check, so the pidfd cannot name another process.
        """
        pid = supervised.state.get("Pid")
        if not isinstance(pid, int) or pid <= 0:
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        try:
            current = self.runtime().state(supervised.container_id)
            if current.status.value == "running" and current.pid == pid:
                return pidfd
        except (StackrError, AttributeError):
            pass
        os.close(pidfd)
        return None

    def _watch_run(self, supervised: Supervised, run: Run) -> None:
        runtime = self.runtime()
        container_id = supervised.container_id
        while True:
            try:
                state = runtime.wait(container_id, timeout=WAIT_SLICE_SECONDS)
                break
            except TimeoutError:
                if self.stopping.is_set():
                    return  # the engine is going away; the next one re-adopts
            except StackrError as error:  # the run state vanished
                state = None
                supervised.state["Error"] = str(error)
                break
        if run.pump is not None:
            run.pump.join(timeout=5.0)
        self._record_exit(supervised, run, state)

    def _record_exit(self, supervised: Supervised, run: Run | None, state: Any) -> None:
        with supervised.lock:
            if supervised.removed:  # remove() waits for this run to end, records nothing
                if run is not None:
                    run.exited.set()
                    run.release()
                return
            self._stop_health(supervised)
            exit_code = state.exit_code if state is not None and state.exit_code is not None \
                else 255
            oom_killed = bool(state.oom_killed) if state is not None else False
            finished = state.finished_at if state is not None and state.finished_at else \
                time.time()
            supervised.exit_count += 1
            supervised.run = None
            supervised.state.update({
                "Status": "exited", "Running": False, "Restarting": False, "Pid": 0,
                "ExitCode": exit_code, "OOMKilled": oom_killed,
                "FinishedAt": _time_text(finished),
            })
            if state is not None and state.error:
                supervised.state["Error"] = state.error
            if state is not None and state.signal:
                supervised.state["Signal"] = state.signal
            if oom_killed:
                self._publish(supervised, "oom")
            self._publish(supervised, "die", exitCode=str(exit_code))
            ran_for = time.monotonic() - run.started_monotonic if run is not None else \
                max(0.0, finished - _parse_time(supervised.state.get("StartedAt")))
            policy = RestartPolicy.from_docker(supervised.record["HostConfig"].get("RestartPolicy"))
            auto_remove = bool(supervised.record["HostConfig"].get("AutoRemove"))
            restart = not auto_remove and not self.stopping.is_set() and policy.should_restart(
                exit_code, supervised.record["RestartCount"], supervised.record["StoppedByUser"]
            )
            if restart:
                delay = supervised.backoff.next_delay(ran_for)
                supervised.state.update({"Status": "restarting", "Restarting": True})
                timer = threading.Timer(delay, self._restart_after_backoff, args=(supervised,))
                timer.daemon = True
                supervised.restart_timer = timer
                timer.start()
            # A stop answers once the exit is known here (what inspect and ps show);
            # the record follows, written but not fsynced: an exit is the run state of a
            # process, which a power loss ends anyway; an engine killed before the write
            # finds the process gone and records an unknown exit (255), as Docker does.
            # A remove waits for the lock, so for the write and the release below.
            if run is not None:
                run.exited.set()
            self._save(supervised, durable=False)
            if run is not None:
                run.release()
        if auto_remove:
            with contextlib.suppress(ApiError):
                self.remove(supervised.container_id, force=True)

    def _restart_after_backoff(self, supervised: Supervised) -> None:
        with supervised.lock:
            if supervised.removed or supervised.state["Status"] != "restarting":
                return
            supervised.restart_timer = None
            supervised.record["RestartCount"] += 1
            try:
                self._start_locked(supervised)
                self._publish(supervised, "restart")
            except Exception as error:  # the next start failed: recorded, not retried
                supervised.state.update({"Status": "exited", "Restarting": False,
                                         "Error": str(error)})
                self._save(supervised)

    # -- stop, kill, restart, remove ------------------------------------------------

    def stop(self, ref: str, timeout: int | None) -> bool:
        supervised = self.get(ref)
        with supervised.lock:
            supervised.record["StoppedByUser"] = True
            if supervised.restart_timer is not None:
                supervised.restart_timer.cancel()
                supervised.restart_timer = None
            if supervised.state["Status"] == "restarting":
                supervised.state.update({"Status": "exited", "Restarting": False})
                self._save(supervised)
                return True
            self._thaw(supervised)
            run = supervised.run
            if supervised.state["Status"] != "running" or run is None:
                self._save(supervised)
                return False
            # Written before the signal when a restart policy reads it (an engine killed
            # meanwhile must not restart it); not fsynced: the exit's record, moments
            # later, is, and a power loss stops it anyway. Under policy "no" the exit's
            # record is the one write (one less on the way of every stop).
            policy = RestartPolicy.from_docker(supervised.record["HostConfig"].get("RestartPolicy"))
            if policy.name != "no":
                self._save(supervised, durable=False)
            config = supervised.record["Config"]
            stop_signal = signal_number(config.get("StopSignal") or "SIGTERM")
            grace = timeout if timeout is not None else config.get("StopTimeout")
            grace = DEFAULT_STOP_TIMEOUT if grace is None else grace
            self._signal(supervised, stop_signal)
        if grace < 0 or not run.exited.wait(grace):
            self._signal(supervised, signals.SIGKILL, all_processes=True)
            run.exited.wait(30)
        return True

    def _signal(self, supervised: Supervised, number: int, all_processes: bool = False) -> None:
        run = supervised.run
        if not all_processes and run is not None and run.pidfd is not None:
            # PID 1's own pidfd: no state file to read, no start time to compare.
            with contextlib.suppress(ProcessLookupError):  # exited: the watcher records it
                signals.pidfd_send_signal(run.pidfd, number)
            return
        # A StackrError means it exited meanwhile: the watcher records that.
        with contextlib.suppress(StackrError):
            self.runtime().kill(supervised.container_id, number, all_processes=all_processes)

    def kill(self, ref: str, signal: str) -> None:
        supervised = self.get(ref)
        number = signal_number(signal or "SIGKILL")
        with supervised.lock:
            self._thaw(supervised)
            if supervised.state["Status"] != "running":
                raise conflict(f"container {supervised.name} is not running")
            if number in (signals.SIGKILL, signals.SIGTERM, signals.SIGINT):
                supervised.record["StoppedByUser"] = True
                self._save(supervised)
            self._publish(supervised, "kill", signal=str(number))
            self._signal(supervised, number)
            run = supervised.run
        if number == signals.SIGKILL and run is not None:
            # As Docker does: a SIGKILL returns once the container has stopped, so the
            # next inspect or ps sees it exited.
            run.exited.wait(KILL_WAIT_SECONDS)

    def pause(self, ref: str) -> None:
        """Freeze every process of the container (its cgroup's freezer)."""
        supervised = self.get(ref)
        with supervised.lock:
            if supervised.state["Status"] != "running":
                raise conflict(f"container {supervised.name} is not running"
                               + (" (it is paused)" if supervised.state["Paused"] else ""))
            self.runtime().pause(supervised.container_id)
            supervised.state.update({"Status": "paused", "Paused": True})
            self._save(supervised)
            self._publish(supervised, "pause")

    def unpause(self, ref: str) -> None:
        supervised = self.get(ref)
        with supervised.lock:
            if supervised.state["Status"] != "paused":
                raise conflict(f"container {supervised.name} is not paused")
            self._thaw(supervised)
            self._publish(supervised, "unpause")

    def _thaw(self, supervised: Supervised) -> None:
        """Let a paused container go on (before it is stopped or killed too: a frozen
        process cannot act on a signal)."""
        if supervised.state.get("Paused"):
            self.runtime().resume(supervised.container_id)
            supervised.state.update({"Status": "running", "Paused": False})
            self._save(supervised)

    def restart(self, ref: str, timeout: int | None) -> None:
        self.stop(ref, timeout)
        supervised = self.get(ref)
        with supervised.lock:
            supervised.record["StoppedByUser"] = False
            if supervised.state["Status"] != "running":
                self._start_locked(supervised)
        self._publish(supervised, "restart")

    def remove(self, ref: str, force: bool) -> None:
        supervised = self.get(ref)
        with supervised.lock:
            status = supervised.state["Status"]
            if status in ("running", "restarting") and not force:
                raise conflict(f"container {supervised.name} is {status}: stop it first, or "
                               "remove with force")
            supervised.removed = True
            self._stop_health(supervised)
            if supervised.restart_timer is not None:
                supervised.restart_timer.cancel()
            self._discard_prepared(supervised)
            run = supervised.run
        if run is not None:
            self._signal(supervised, signals.SIGKILL, all_processes=True)
            run.exited.wait(30)
            if run.pump is not None:
                run.pump.join(5)
        container_id = supervised.container_id
        try:
            self.runtime().delete(container_id, force=True)
        except StackrError as error:
            if "no such container" not in str(error):
                raise ApiError(500, f"container {supervised.name}: remove: {error}") from None
        except ImportError:
            pass
        # (Also what a failed start left half-made.) Only a container whose start could
        # have wired it: others have nothing to undo, and need no network package loaded.
        if self.networks is not None and _may_be_wired(supervised.record):
            try:
                self.networks.disconnect(container_id)
            except StackrError as error:
                raise ApiError(500, f"container {supervised.name}: remove: {error}") from None
        if supervised.writer is not None:
            supervised.writer.close()
        for directory in (logs.log_dir(container_id), logs.fifo_dir(container_id)):
            _remove_tree(directory)
        self.records.delete(container_id)
        with self._lock:
            self._containers.pop(container_id, None)
            self._names.pop(supervised.name, None)
        with supervised.changed:
            supervised.changed.notify_all()
        self._publish(supervised, "destroy")

    # -- health ---------------------------------------------------------------------

    def _start_health(self, supervised: Supervised) -> None:
        from stackr.engine.health import start_monitor

        supervised.health = start_monitor(self, supervised)

    def _stop_health(self, supervised: Supervised) -> None:
        if supervised.health is not None:
            supervised.health.stop()
            supervised.health = None

    def health_changed(self, supervised: Supervised, status: str, health: JsonObject) -> None:
        # The event first: whoever then sees the new status in inspect finds it too.
        self._publish(supervised, f"health_status: {status}")
        supervised.state["Health"] = health
        self._save(supervised)

    # -- views ----------------------------------------------------------------------

    def inspect(self, ref: str) -> JsonObject:
        supervised = self.get(ref)
        record = supervised.record
        config = record["Config"]
        args = [*config.get("Entrypoint", []), *config.get("Cmd", [])]
        return {
            "Id": record["Id"],
            "Name": "/" + record["Name"],
            "Created": record["Created"],
            "Path": args[0] if args else "",
            "Args": args[1:],
            "State": dict(record["State"]),
            "Image": config.get("Image") or "",
            "RestartCount": record["RestartCount"],
            "LogPath": record["LogPath"],
            "Driver": "overlay",
            "Config": config,
            "HostConfig": record["HostConfig"],
            "Mounts": record["Mounts"],
            "NetworkSettings": record.get("NetworkSettings", {"Networks": {}, "Ports": []}),
        }

    def list(self, all_containers: bool, filters: dict[str, list[str]]) -> list[JsonObject]:
        unknown = set(filters) - {"label", "name", "id", "status"}
        if unknown:
            raise bad_request(f"unknown container filter(s): {', '.join(sorted(unknown))}")
        views = []
        for supervised in self.all():
            status = supervised.state["Status"]
            if not all_containers and status not in ("running", "restarting") and \
                    "status" not in filters:
                continue
            if "label" in filters and not labels_match(supervised.labels, filters["label"]):
                continue
            if "name" in filters and not any(n.lstrip("/") in supervised.name
                                             for n in filters["name"]):
                continue
            if "id" in filters and not any(supervised.container_id.startswith(i)
                                           for i in filters["id"]):
                continue
            if "status" in filters and status not in filters["status"]:
                continue
            views.append(self._summary(supervised))
        return views

    def _summary(self, supervised: Supervised) -> JsonObject:
        record = supervised.record
        config = record["Config"]
        state = record["State"]
        return {
            "Id": record["Id"],
            "Names": ["/" + record["Name"]],
            "Image": config.get("Image") or "",
            "Command": " ".join([*config.get("Entrypoint", []), *config.get("Cmd", [])]),
            "Created": int(_parse_time(record["Created"])),
            "State": state["Status"],
            "Status": _status_text(state),
            "Labels": supervised.labels,
            "Mounts": record["Mounts"],
        }

    # -- wait and logs --------------------------------------------------------------

    def wait(self, ref: str, condition: str) -> Iterator[JsonObject | None]:
        if condition not in ("not-running", "next-exit", "removed"):
            raise bad_request(f"wait condition {condition!r}: use not-running, next-exit or "
                              "removed")
        supervised = self.get(ref)
        exits_seen = supervised.exit_count

        def done() -> bool:
            if condition == "removed":
                return supervised.removed
            if condition == "next-exit":
                return supervised.exit_count > exits_seen or supervised.removed
            return supervised.state["Status"] not in ("running", "restarting") or \
                supervised.removed

        def answer() -> Iterator[JsonObject | None]:
            while True:
                with supervised.changed:
                    if not done():
                        supervised.changed.wait(0.5)
                if done():
                    error = supervised.state.get("Error") or None
                    yield {"StatusCode": supervised.state.get("ExitCode", 0),
                           "Error": {"Message": error} if error else None}
                    return
                if self.stopping.is_set():
                    return
                yield None

        return answer()

    def logs(self, ref: str, query: logs.LogQuery, follow: bool
             ) -> Iterator[JsonObject | None]:
        supervised = self.get(ref)
        path = logs.log_file(supervised.container_id)
        if not follow:
            entries, _, _ = logs.read_entries(path, query)
            return iter(entries)

        def still_running() -> bool:
            run = supervised.run
            if run is not None and run.pump is not None and not run.pump.finished.is_set():
                return True
            return supervised.state["Status"] in ("running", "restarting") and \
                not supervised.removed

        return logs.follow_entries(path, query, supervised.writer, still_running, self.stopping)

    # -- top and stats --------------------------------------------------------------

    def running(self, ref: str) -> Supervised:
        supervised = self.get(ref)
        if supervised.state["Status"] != "running":
            raise conflict(f"container {supervised.name} is not running")
        return supervised

    def top(self, ref: str) -> JsonObject:
        from stackr.cgroups import open_manager

        supervised = self.running(ref)
        processes = []
        for pid in sorted(open_manager(supervised.container_id).pids()):
            row = _process_row(pid)
            if row is not None:
                processes.append(row)
        return {"Titles": ["PID", "PPID", "STAT", "TIME", "CMD"], "Processes": processes}

    def stats(self, ref: str) -> JsonObject:
        supervised = self.running(ref)
        numbers = self.runtime().stats(supervised.container_id)
        return {
            "id": supervised.container_id,
            "name": "/" + supervised.name,
            "read": now_text(),
            "memory_stats": {"usage": numbers.memory_usage, "max_usage": numbers.memory_max_usage,
                             "limit": numbers.memory_limit},
            "cpu_stats": {"cpu_usage": {"total_usage": numbers.cpu_usage_ns},
                          "throttling_data": {"throttled_periods":
                                              numbers.cpu_throttled_periods}},
            "pids_stats": {"current": numbers.pids_current, "limit": numbers.pids_limit},
            "oom_kills": numbers.oom_kills,
        }

    # -- engine start and stop ------------------------------------------------------

    def adopt(self) -> None:
        """Bring the records in line with what the kernel says (engine start)."""
        for supervised in self.all():
            status = supervised.state["Status"]
            if status == "created":
                # Prepared by an engine that has gone (its log pump with it): start
                # prepares it again.
                with contextlib.suppress(StackrError):
                    self.runtime().delete(supervised.container_id, force=True)
            if status not in ("running", "restarting"):
                continue
            try:
                state = self.runtime().state(supervised.container_id)
            except StackrError:
                state = None
            if state is not None and state.status.value == "running":
                self._readopt(supervised, state)
            else:
                self._record_exit(supervised, None, state)

    def _readopt(self, supervised: Supervised, state: Any) -> None:
        container_id = supervised.container_id
        supervised.writer = _log_writer(supervised)
        pump = None
        try:
            pump = logs.LogPump(container_id, supervised.writer)
            pump.start()
        except OSError:
            pump = None  # its FIFOs went (a reboot would have killed it too)
        started = _parse_time(supervised.state.get("StartedAt"))
        run = Run(pump, time.monotonic() - max(0.0, time.time() - started))
        supervised.run = run
        supervised.state.update({"Status": "running", "Running": True, "Restarting": False,
                                 "Pid": state.pid or 0})
        self._save(supervised)
        self._watch(supervised, run)
        self._start_health(supervised)

    def detach(self) -> None:
        for supervised in self.all():
            if supervised.restart_timer is not None:
                supervised.restart_timer.cancel()
            self._stop_health(supervised)


def _may_be_wired(record: JsonObject) -> bool:
    """Whether a start may have connected the container to networks (a sandbox, ports,
    names): it asks for networks, or has a network namespace recorded."""
    names = network_names(record["HostConfig"], record["Config"].get("NetworkingConfig"))
    return bool(names or (record.get("NetworkSettings") or {}).get("SandboxKey"))


def _no_image_store() -> Any:
    raise ApiError(500, "the engine has no image store")


def _log_writer(supervised: Supervised) -> logs.LogWriter:
    options = (supervised.record["HostConfig"].get("LogConfig") or {}).get("Config") or {}
    return logs.LogWriter(
        logs.log_file(supervised.container_id),
        max_bytes=parse_size(options["max-size"]) if options.get("max-size")
        else logs.DEFAULT_MAX_BYTES,
        max_files=int(options.get("max-file") or logs.DEFAULT_MAX_FILES),
    )


def _status_text(state: JsonObject) -> str:
    status = str(state["Status"])
    if status == "running":
        return f"Up {_ago(_parse_time(state['StartedAt']))}"
    if status == "exited":
        return f"Exited ({state['ExitCode']}) {_ago(_parse_time(state['FinishedAt']))} ago"
    if status == "restarting":
        return f"Restarting ({state['ExitCode']})"
    return status.capitalize()


def _ago(moment: float) -> str:
    seconds = max(0, int(time.time() - moment))
    if seconds < 60:
        return f"{seconds} second{'s' * (seconds != 1)}"
    if seconds < 3600:
        return f"{seconds // 60} minute{'s' * (seconds // 60 != 1)}"
    return f"{seconds // 3600} hour{'s' * (seconds // 3600 != 1)}"


def _process_row(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_seconds = (int(fields[11]) + int(fields[12])) // ticks
    command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip() or \
        stat[stat.index("(") + 1 : stat.rindex(")")]
    return [str(pid), fields[1], fields[0], duration_text(cpu_seconds),
            command]


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
