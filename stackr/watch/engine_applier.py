"""The loop's decisions carried out on the real engine.

``apply`` is ``stackr up -d``'s core (observe → plan → apply, under the project lock),
callable again and again from one process; only what differs from the engine's view is
touched. ``sync`` writes into each running container of the service through
``/proc/<pid>/root`` (``stackr.watch.sync``): no ``tar``, no shell in the image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stackr.errors import ApplyError, StackrError
from stackr.watch.loop import ApplyOutcome
from stackr.watch.sync import ContainerRoot, SyncItem, SyncReport

if TYPE_CHECKING:
    from stackr.client import EngineClient
    from stackr.config.models import ServiceHook
    from stackr.config.pipeline import LoadedStack
    from stackr.project.apply import ProgressSink


def _merge(reports: list[SyncReport]) -> SyncReport:
    return SyncReport(
        copied=tuple(path for r in reports for path in r.copied),
        deleted=tuple(path for r in reports for path in r.deleted),
        failed=tuple(path for r in reports for path in r.failed),
        bytes_copied=sum(r.bytes_copied for r in reports),
    )


def _state_text(summary: Mapping[str, Any]) -> str:
    """"running", "exited (3)", "restarting (1)": without the "2 seconds ago" of the
    status text, which would read as a change at every check."""
    state = str(summary.get("State", "unknown"))
    code = re.match(r"\w+ \((-?\d+)\)", str(summary.get("Status", "")))
    if state in ("exited", "restarting") and code:
        return f"{state} ({code.group(1)})"
    return state


class EngineApplier:
    def __init__(self, client: EngineClient, progress: ProgressSink | None = None,
                 on_wait: Any = None) -> None:
        self.client = client
        self.progress = progress
        self.on_wait = on_wait

    # -- the stack --------------------------------------------------------------------

    def apply(self, loaded: LoadedStack) -> ApplyOutcome:
        from stackr.graph import build_graph
        from stackr.plan import OpType, UpOptions
        from stackr.project.converge import converge

        stack = loaded.stack
        graph = build_graph(stack, loaded.raw.source_map)
        try:
            plan = converge(self.client, loaded, stack, graph, UpOptions(),
                            progress=self.progress, on_wait=self.on_wait).plan
        except StackrError:
            raise
        except OSError as error:
            raise ApplyError(f"project {stack.name}: {error}") from None
        if plan.is_empty():
            return ApplyOutcome()
        recreated = sorted({op.resource.name for op in plan.operations
                            if op.resource.kind == "service"
                            and op.op is OpType.CREATE_CONTAINER})
        lines = [f"{op.op.name.lower().replace('_', ' ')} {op.resource} ({op.cause})"
                 for op in plan.operations]
        lines += [f"warning: {warning}" for warning in plan.warnings]
        return ApplyOutcome(tuple(recreated), tuple(lines))

    # -- one service's containers ---------------------------------------------------------

    def _containers(self, loaded: LoadedStack, service: str) -> list[str]:
        from stackr.project.observe import observe

        observation = observe(self.client, loaded.stack.name)
        return [observation.handles[r] for r in observation.service_containers((service,))]

    def running_roots(self, loaded: LoadedStack, service: str
                      ) -> list[tuple[ContainerRoot, str | None]]:
        """The roots of the service's running containers, with each one's user."""
        roots = []
        for handle in self._containers(loaded, service):
            details = self.client.container_inspect(handle)
            state = details.get("State") or {}
            pid = int(state.get("Pid") or 0)
            if not state.get("Running") or pid <= 0:
                continue
            user = (details.get("Config") or {}).get("User") or None
            roots.append((ContainerRoot.of_pid(pid), user))
        if not roots:
            raise ApplyError(f"service {service} has no running container (it will get the "
                             "files when it is recreated with initial_sync, or on the next "
                             "change)")
        return roots

    def sync(self, loaded: LoadedStack, service: str, items: list[SyncItem]) -> SyncReport:
        reports = []
        for root, user in self.running_roots(loaded, service):
            reports.append(root.sync(items, root.resolve_owner(user)))
        return _merge(reports)

    def restart(self, loaded: LoadedStack, service: str) -> None:
        handles = self._containers(loaded, service)
        if not handles:
            raise ApplyError(f"service {service} has no container")
        for handle in handles:
            self.client.container_restart(handle)

    def exec(self, loaded: LoadedStack, service: str, command: ServiceHook) -> int:
        """Run a sync+exec command in every running container of the service; the
        highest exit code."""
        handles = self._containers(loaded, service)
        if not handles:
            raise ApplyError(f"service {service} has no container")
        from stackr.project.apply import run_exec
        from stackr.project.translate import hook_exec_body

        body = hook_exec_body(command)
        return max((run_exec(self.client, handle, body)[0] or 0) for handle in handles)

    def rebuild(self, loaded: LoadedStack, service: str) -> None:
        from stackr.commands.project_session import build_image

        if loaded.stack.services[service].build is None:
            raise ApplyError(f"service {service} has no build: section to rebuild from")
        build_image(loaded, service)

    def states(self, loaded: LoadedStack) -> Mapping[str, str]:
        from stackr.project.observe import observe

        observation = observe(self.client, loaded.stack.name)
        return {str(summary["Names"][0]).lstrip("/"): _state_text(summary)
                for summary in observation.containers.values()}
