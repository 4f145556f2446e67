"""The executor: carries out a ``Plan`` on the engine, wave by wave, in parallel.

It decides nothing: every body it sends and every wait it makes was decided before it
runs (``Requests``). Operations of one wave run in a thread pool, those on the same
resource in their listed order; a container's start first waits for its
``depends_on`` conditions. On the first failure no new wave is scheduled (what runs
finishes), and the error lists what was done and what was not, and the next step.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from stackr.errors import ApplyError, StackrError
from stackr.plan import OpType
from stackr.project.conditions import ConditionError, wait_condition
from stackr.record import frozen_record, record_field

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any, Protocol

    from stackr.graph import ResourceId
    from stackr.plan import Operation, Plan
    from stackr.project.conditions import ContainerReader
    from stackr.project.desired import DependencyWait

    JsonObject = dict[str, Any]

    class Engine(ContainerReader, Protocol):  # a Protocol is for mypy only; waits read
        def container_create(self, config: JsonObject, name: str | None = None) -> str: ...

        def container_start(self, container: str) -> None: ...

        def container_stop(self, container: str, timeout: float | None = None) -> None: ...

        def container_remove(self, container: str, force: bool = False,
                             volumes: bool = False) -> None: ...

        def container_restart(self, container: str, timeout: float | None = None
                              ) -> None: ...

        def volume_create(self, name: str | None = None,
                          labels: Mapping[str, str] | None = None) -> JsonObject: ...

        def volume_remove(self, name: str, force: bool = False) -> None: ...

        def exec_create(self, container: str, config: JsonObject) -> str: ...

        def exec_start(self, exec_id: str) -> Iterator[JsonObject]: ...

        def request(self, method: str, path: str, body: Any = None) -> Any: ...

MAX_WORKERS = 16
# Detached operations (see ``Executor.detach``) run in a pool of their own, this wide: a
# wave's operations never queue behind them, and a few at a time finish in the order
# given (the next start's creation first), where twenty at once all finish last.
DETACHED_WORKERS = 8
NEXT_STEP = 'run "stackr up" again to resume or "stackr down" to clean up'
# What a failing hook's error shows of its output: its last lines, kept while it runs.
HOOK_OUTPUT_LINES = 5
MAX_EXEC_OUTPUT = 4096


def run_exec(engine: Engine, container: str, body: JsonObject) -> tuple[int | None, str]:
    """Run an exec in ``container`` to its end: its exit code (None: the engine gave
    none) and the last ``MAX_EXEC_OUTPUT`` characters of its output."""
    exec_id = engine.exec_create(container, body)
    output, exit_code = "", None
    for entry in engine.exec_start(exec_id):
        if "ExitCode" in entry:
            exit_code = int(entry["ExitCode"])
        elif isinstance(entry.get("data"), str):
            output = (output + entry["data"])[-MAX_EXEC_OUTPUT:]
    return exit_code, output


@frozen_record
class Hooks:
    """A container's lifecycle hooks, as the engine's exec bodies (``translate``)."""

    post_start: tuple[JsonObject, ...] = ()  # after a start; one failing stops it
    pre_stop: tuple[JsonObject, ...] = ()  # before a stop; one failing stops nothing


@frozen_record
class Requests:
    """What each operation sends, decided before the executor runs."""

    container_bodies: Mapping[ResourceId, tuple[str, JsonObject]] = record_field(
        default_factory=dict)  # engine name, create body
    network_bodies: Mapping[ResourceId, JsonObject] = record_field(default_factory=dict)
    volume_bodies: Mapping[ResourceId, JsonObject] = record_field(default_factory=dict)
    handles: Mapping[ResourceId, str] = record_field(default_factory=dict)  # what exists now
    display_names: Mapping[ResourceId, str] = record_field(
        default_factory=dict)  # for progress
    waits: Mapping[ResourceId, tuple[DependencyWait, ...]] = record_field(default_factory=dict)
    wait_names: Mapping[ResourceId, str] = record_field(
        default_factory=dict)  # dependency → name
    stop_timeout: int | None = None  # seconds for every stop together (one grace period)
    hooks: Mapping[ResourceId, Hooks] = record_field(default_factory=dict)


@frozen_record
class Progress:
    """One step of the apply, for the CLI's display."""

    resource: ResourceId
    name: str  # the engine's name
    state: str  # "Creating", "Created", "Starting", "Waiting", "Healthy", "Stopped", …
    elapsed: float  # seconds since the apply began
    detail: str = ""


if TYPE_CHECKING:
    ProgressSink = Callable[[Progress], None]

_PAST = {
    OpType.CREATE_NETWORK: "Created", OpType.REMOVE_NETWORK: "Removed",
    OpType.CREATE_VOLUME: "Created", OpType.REMOVE_VOLUME: "Removed",
    OpType.CREATE_CONTAINER: "Created", OpType.START_CONTAINER: "Started",
    OpType.STOP_CONTAINER: "Stopped", OpType.REMOVE_CONTAINER: "Removed",
    OpType.RESTART_CONTAINER: "Restarted",
}
_PRESENT = {
    OpType.CREATE_NETWORK: "Creating", OpType.REMOVE_NETWORK: "Removing",
    OpType.CREATE_VOLUME: "Creating", OpType.REMOVE_VOLUME: "Removing",
    OpType.CREATE_CONTAINER: "Creating", OpType.START_CONTAINER: "Starting",
    OpType.STOP_CONTAINER: "Stopping", OpType.REMOVE_CONTAINER: "Removing",
    OpType.RESTART_CONTAINER: "Restarting",
}


class _Task:
    """One call given to a ``_Pool``: ``result()`` waits for it and raises what it raised."""

    __slots__ = ("call", "error", "finished")

    def __init__(self, call: Callable[[], None]) -> None:
        self.call = call
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def result(self) -> None:
        self.finished.wait()
        if self.error is not None:
            raise self.error


class _Pool:
    """What the executor used of ``ThreadPoolExecutor``, on ``threading`` alone
    (``concurrent.futures`` and the ``logging`` it loads cost every ``down`` ~10 ms):
    up to ``workers`` threads, started as calls arrive, taking the calls in order."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name  # of its threads, numbered
        self._calls: deque[_Task] = deque()
        self._changed = threading.Condition()
        self._idle = 0  # threads waiting for a call
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, call: Callable[..., None], *args: Any) -> _Task:
        task = _Task(lambda: call(*args))
        with self._changed:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._calls.append(task)
            if len(self._calls) > self._idle and len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}_{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            else:
                self._changed.notify()
        return task

    def shutdown(self, cancel: bool = False) -> None:
        """Wait for the calls (``cancel``: those not started yet fail) and the threads."""
        with self._changed:
            self._closed = True
            while cancel and self._calls:
                dropped = self._calls.popleft()
                dropped.error = RuntimeError("cancelled")
                dropped.finished.set()
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._calls and not self._closed:
                    self._idle += 1
                    self._changed.wait()
                    self._idle -= 1
                if not self._calls:
                    return  # shut down, nothing left
                task = self._calls.popleft()
            try:
                task.call()
            except BaseException as error:  # kept for result(), as a future keeps it
                task.error = error
            task.finished.set()


def _wait_all(tasks: list[_Task]) -> None:
    """Wait for every task, including those added meanwhile (detached operations); the
    list stays as it is, for other threads waiting on it too."""
    index = 0
    while index < len(tasks):
        tasks[index].result()
        index += 1


class ApplyFailed(ApplyError):
    def __init__(self, operation: Operation, cause: str, done: int, pending: int) -> None:
        self.operation = operation
        self.cause = cause
        self.done = done
        self.pending = pending
        super().__init__(
            f"{operation.resource}: {operation.op.name.lower().replace('_', ' ')} failed: "
            f"{cause}\n{done} operation(s) done, {pending} not done; {NEXT_STEP}"
        )


class _Run:
    """One ``Executor.run``'s state, shared by its threads (under ``lock``)."""

    def __init__(self, started: float, stop_deadline: float | None) -> None:
        self.started = started
        self.stop_deadline = stop_deadline
        self.lock = threading.Lock()
        self.created: dict[ResourceId, str] = {}  # new container ids
        self.done: list[Operation] = []
        self.failure: tuple[Operation, str] | None = None
        self.cancelled = threading.Event()  # Ctrl-C
        self.pool: _Pool | None = None
        self.detached: list[_Task] = []  # see Executor.detach
        self.pending: dict[ResourceId, _Task] = {}  # by resource


def _needs_containers_gone(operation: Operation) -> bool:
    """Whether ``operation`` waits for the detached operations before it (see Executor).

    A volume is in use until its containers are removed. A network's removal needs its
    containers stopped, not removed (a stopped container lets go of the network in the
    engine, as in Docker): in ``down`` it runs beside their last removals, whose
    namespaces the kernel tears down meanwhile.
    """
    return operation.resource.kind != "service" and operation.op is not OpType.REMOVE_NETWORK


class Executor:
    def __init__(self, engine: Engine, requests: Requests,
                 progress: ProgressSink | None = None, workers: int = MAX_WORKERS,
                 detach: frozenset[OpType] = frozenset(),
                 detached_workers: int = DETACHED_WORKERS) -> None:
        self.engine = engine
        self.requests = requests
        self.progress = progress or (lambda event: None)
        self.workers = workers
        self.detached_workers = detached_workers
        # Kinds of operation that, when they end their resource's part of a wave, run
        # beside the next waves instead of holding them up: the next operation on the
        # same resource waits for it, an operation on a volume or a network creation
        # waits for all (``_needs_containers_gone``).
        # `up` detaches container creations (a depends_on chain's starts need not wait
        # for every creation), `down` container removals (the next stop need not wait
        # for the last removal).
        self.detach = detach

    def run(self, plan: Plan) -> dict[ResourceId, str]:
        """Carry out ``plan``; the ids of the containers it created. Raises
        ``ApplyFailed`` after the wave in which an operation failed."""
        now = time.monotonic()
        timeout = self.requests.stop_timeout
        state = _Run(now, None if timeout is None else now + timeout)
        pool = _Pool(self.workers, "apply")
        state.pool = _Pool(min(self.workers, self.detached_workers), "detached")
        # Within a wave, resources go in the order of their last wave: what a later wave
        # waits for first (a depends_on chain's next start needs its container created).
        last_wave = {operation.resource: operation.wave for operation in plan.operations}
        try:
            for wave in plan.waves():
                by_resource: dict[ResourceId, list[Operation]] = {}
                for operation in sorted(wave, key=lambda op: last_wave[op.resource]):
                    by_resource.setdefault(operation.resource, []).append(operation)
                tasks = [pool.submit(self._run_resource, operations, state)
                         for operations in by_resource.values()
                         if not self._detached_at_once(operations, state)]
                _wait_all(tasks)
                if state.failure is not None:
                    break
            _wait_all(state.detached)
            if state.failure is not None:
                operation, cause = state.failure
                pending = len(plan.operations) - len(state.done)
                raise ApplyFailed(operation, cause, len(state.done), pending)
        except BaseException:
            # Ctrl-C (or a bug): waits for dependencies see this and give up; the engine
            # calls in flight finish (each is one short request); the next up resumes.
            state.cancelled.set()
            pool.shutdown(cancel=True)
            state.pool.shutdown(cancel=True)
            raise
        pool.shutdown()
        state.pool.shutdown()
        return dict(state.created)

    # -- one resource's operations, in order ----------------------------------------

    def _run_resource(self, operations: list[Operation], state: _Run,
                      detachable: bool = True) -> None:
        resource = operations[0].resource
        if detachable and any(_needs_containers_gone(operation) for operation in operations):
            _wait_all(state.detached)  # (a detached operation would wait for itself)
        with state.lock:  # (a detached operation itself is that earlier one)
            earlier = state.pending.pop(resource, None) if detachable else None
        if earlier is not None:
            earlier.result()
            with state.lock:
                if state.failure is not None and state.failure[0].resource == resource:
                    return  # its detached operation failed: nothing more on it
        for index, operation in enumerate(operations):
            if detachable and operation.op in self.detach and index == len(operations) - 1:
                with state.lock:
                    self._detach(operation, state)
                return
            try:
                self._one(operation, state)
            except StackrError as error:
                with state.lock:
                    if state.failure is None:
                        state.failure = (operation, str(error))
                self._report(operation.resource, "Error", state, str(error).split("\n")[0])
                return
            with state.lock:
                state.done.append(operation)

    def _detached_at_once(self, operations: list[Operation], state: _Run) -> bool:
        """Detach a resource's part of a wave that is one detachable operation from the
        wave's loop, so that they reach the detached pool in the wave's order (through
        the wave's pool, the order would be its threads' race)."""
        operation = operations[0]
        if len(operations) != 1 or operation.op not in self.detach:
            return False
        with state.lock:
            if operation.resource in state.pending:
                return False  # after an earlier detached one: _run_resource waits for it
            self._detach(operation, state)
        return True

    def _detach(self, operation: Operation, state: _Run) -> None:
        """Run ``operation`` in the detached pool (under ``state.lock``)."""
        assert state.pool is not None
        task = state.pool.submit(self._run_resource, [operation], state, False)
        state.detached.append(task)
        state.pending[operation.resource] = task

    def _name(self, resource: ResourceId) -> str:
        if resource in self.requests.container_bodies:
            return self.requests.container_bodies[resource][0]
        for bodies in (self.requests.network_bodies, self.requests.volume_bodies):
            if resource in bodies:
                return str(bodies[resource]["Name"])
        if resource in self.requests.display_names:
            return self.requests.display_names[resource]
        return self.requests.handles.get(resource, str(resource))

    def _report(self, resource: ResourceId, what: str, state: _Run, detail: str = "") -> None:
        self.progress(Progress(resource, self._name(resource), what,
                               time.monotonic() - state.started, detail))

    def _container(self, resource: ResourceId, state: _Run) -> str:
        with state.lock:
            created = state.created.get(resource)
        return created or self.requests.handles.get(resource) or self._name(resource)

    def _one(self, operation: Operation, state: _Run) -> None:
        resource = operation.resource
        op = operation.op
        self._report(resource, _PRESENT[op], state)
        if op is OpType.CREATE_NETWORK:
            self.engine.request("POST", "/networks/create", self.requests.network_bodies[resource])
        elif op is OpType.REMOVE_NETWORK:
            from urllib.parse import quote

            from stackr.client.errors import EngineConflictError

            path = "/networks/" + quote(self.requests.handles[resource], safe="")
            try:
                self.engine.request("DELETE", path)
            except EngineConflictError:
                # A container on it runs (one seen stopped was started again meanwhile):
                # asked again once the removals beside have ended, as before them.
                _wait_all(state.detached)
                self.engine.request("DELETE", path)
        elif op is OpType.CREATE_VOLUME:
            body = self.requests.volume_bodies[resource]
            self.engine.volume_create(body["Name"], body.get("Labels"))
        elif op is OpType.REMOVE_VOLUME:
            self.engine.volume_remove(self.requests.handles[resource])
        elif op is OpType.CREATE_CONTAINER:
            name, body = self.requests.container_bodies[resource]
            container_id = self.engine.container_create(body, name)
            with state.lock:
                state.created[resource] = container_id
        elif op is OpType.START_CONTAINER:
            self._wait_dependencies(resource, state)
            container = self._container(resource, state)
            self.engine.container_start(container)
            try:
                self._run_hooks(resource, container, "post_start", state)
            except ApplyError:
                # Compose's rule: a failing post_start hook stops the container.
                self.engine.container_stop(container, 0)
                raise
        elif op is OpType.STOP_CONTAINER:
            container = self._container(resource, state)
            # Compose's rule: a failing pre_stop hook leaves the container running.
            self._run_hooks(resource, container, "pre_stop", state)
            self.engine.container_stop(container, self._stop_timeout(state))
        elif op is OpType.REMOVE_CONTAINER:
            self.engine.container_remove(self.requests.handles[resource], force=True)
        elif op is OpType.RESTART_CONTAINER:
            self._wait_dependencies(resource, state)
            self.engine.container_restart(self._container(resource, state),
                                          self._stop_timeout(state))
        else:
            raise ApplyError(f"{resource}: {op.name} is not something the executor does")
        self._report(resource, _PAST[op], state)

    def _run_hooks(self, resource: ResourceId, container: str, which: str,
                   state: _Run) -> None:
        """Run the container's ``which`` hooks in order; ``ApplyError`` at the first
        that exits non-zero, with the end of its output."""
        hooks = self.requests.hooks.get(resource)
        if hooks is None:
            return
        import shlex

        for body in getattr(hooks, which):
            command = shlex.join(body["Cmd"])
            self._report(resource, "Hook", state, f"{which}: {command}")
            exit_code, output = run_exec(self.engine, container, body)
            if exit_code != 0:
                shown = output.strip().splitlines()[-HOOK_OUTPUT_LINES:]
                raise ApplyError(f"{which} hook {command} exited with code {exit_code}"
                                 + "".join(f"\n  {line}" for line in shown))

    def _stop_timeout(self, state: _Run) -> int | None:
        if state.stop_deadline is None:
            return None
        return max(0, math.ceil(state.stop_deadline - time.monotonic()))

    def _wait_dependencies(self, resource: ResourceId, state: _Run) -> None:
        for wait in self.requests.waits.get(resource, ()):
            name = self.requests.wait_names.get(wait.dependency)
            if name is None:
                continue  # not part of this stack (a disabled profile)
            if wait.condition != "service_started":
                self._report(resource, "Waiting", state, f"{wait.dependency.name}: "
                             f"{wait.condition}")
            try:
                wait_condition(self.engine, name, wait.condition, state.cancelled)
            except ConditionError as error:
                if wait.required:
                    raise ConditionError(
                        f"dependency {wait.dependency.name} ({wait.condition}): {error}"
                    ) from None
                self._report(resource, "Warning", state,
                             f"optional dependency {wait.dependency.name}: {error}")
            except StackrError as error:
                if wait.required:
                    raise
                self._report(resource, "Warning", state,
                             f"optional dependency {wait.dependency.name}: {error}")
