"""An in-memory engine for the executor and observer tests: it records every call and
answers from dictionaries; health goes "starting" → the scripted status."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from stackr.client import EngineConflictError, EngineNotFoundError

JsonObject = dict[str, Any]


class FakeEngine:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.containers_by_name: dict[str, JsonObject] = {}
        self.networks_list: list[JsonObject] = []
        self.volumes_list: list[JsonObject] = []
        self.health_script: dict[str, list[str]] = {}  # name → statuses inspect returns
        self.exit_codes: dict[str, int] = {}  # name → exit code of a job
        self.logs: dict[str, list[str]] = {}
        self.fail_start: set[str] = set()

    def _call(self, action: str, target: str) -> None:
        with self.lock:
            self.calls.append((action, target))

    def actions(self, action: str) -> list[str]:
        return [target for name, target in self.calls if name == action]

    # -- the client's surface ------------------------------------------------------

    def container_create(self, config: JsonObject, name: str | None = None) -> str:
        assert name is not None
        self._call("create", name)
        if name in self.containers_by_name:
            raise EngineConflictError(409, f"name {name} in use")
        self.containers_by_name[name] = {"Id": f"id-{name}", "Config": config,
                                         "State": {"Status": "created"}}
        return f"id-{name}"

    def _get(self, ref: str) -> JsonObject:
        name = ref.removeprefix("id-")
        if name not in self.containers_by_name:
            raise EngineNotFoundError(404, f"no such container: {ref}")
        return self.containers_by_name[name]

    def container_start(self, container: str) -> None:
        self._call("start", container.removeprefix("id-"))
        if container.removeprefix("id-") in self.fail_start:
            raise EngineConflictError(409, f"container {container}: cannot start: boom")
        self._get(container)["State"] = {"Status": "running"}

    def container_stop(self, container: str, timeout: float | None = None) -> None:
        self._call("stop", f"{container.removeprefix('id-')} t={timeout}")
        self._get(container)["State"] = {"Status": "exited", "ExitCode": 0}

    def container_restart(self, container: str, timeout: float | None = None) -> None:
        self._call("restart", container.removeprefix("id-"))

    def container_remove(self, container: str, force: bool = False, volumes: bool = False
                         ) -> None:
        self._call("remove", container.removeprefix("id-"))
        self.containers_by_name.pop(container.removeprefix("id-"), None)

    def container_inspect(self, container: str) -> JsonObject:
        name = container.removeprefix("id-")
        record = self._get(container)
        state = dict(record["State"])
        script = self.health_script.get(name)
        if script:
            status = script.pop(0) if len(script) > 1 else script[0]
            state["Health"] = {"Status": status}
        return {"Id": record["Id"], "State": state}

    def container_wait(self, container: str, condition: str = "not-running") -> JsonObject:
        self._call("wait", container.removeprefix("id-"))
        return {"StatusCode": self.exit_codes.get(container.removeprefix("id-"), 0)}

    def container_logs(self, container: str, *, follow: bool = False, tail: int | None = None,
                       timestamps: bool = False, stdout: bool = True, stderr: bool = True,
                       since: float | None = None) -> Iterator[JsonObject]:
        lines = self.logs.get(container.removeprefix("id-"), [])
        return iter([{"log": line} for line in lines[-(tail or len(lines)):]])

    def volume_create(self, name: str | None = None, labels: Mapping[str, str] | None = None
                      ) -> JsonObject:
        self._call("volume_create", name or "")
        return {"Name": name}

    def volume_remove(self, name: str, force: bool = False) -> None:
        self._call("volume_remove", name)

    def volumes(self, filters: Mapping[str, list[str]] | None = None) -> list[JsonObject]:
        return self.volumes_list

    def containers(self, all: bool = False, filters: Mapping[str, list[str]] | None = None
                   ) -> list[JsonObject]:
        return [{"Id": c["Id"], "Names": [f"/{name}"], "State": c["State"]["Status"],
                 "Labels": c["Config"].get("Labels", {})}
                for name, c in self.containers_by_name.items()]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if method == "POST" and path == "/networks/create":
            self._call("network_create", body["Name"])
            return {"Id": body["Name"]}
        if method == "DELETE" and path.startswith("/networks/"):
            self._call("network_remove", path.rsplit("/", 1)[1])
            return None
        if method == "GET" and path.startswith("/networks"):
            return self.networks_list
        raise AssertionError(f"unexpected request {method} {path}")
