"""The runtime's failures, as subclasses of stackr's one exception tree."""

from __future__ import annotations

from stackr.errors import HostError, StackrError, UsageError


class ContainerNotFoundError(UsageError):
    """No container with this id exists in the state directory."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id}: no such container")


class ContainerExistsError(UsageError):
    """A container with this id exists and is not stopped."""

    def __init__(self, container_id: str, status: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id}: already exists ({status})")


class ContainerStateError(StackrError):
    """The verb is not allowed in the container's current status (runc's ErrRunning...)."""

    def __init__(self, container_id: str, verb: str, status: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id}: cannot {verb} a {status} container")


class ContainerSetupError(HostError):
    """Building the container failed inside the init process (mount, exec lookup, ...)."""

    def __init__(self, container_id: str, detail: str) -> None:
        super().__init__("create container", container_id, None, detail)
