"""Restart policies and their back-off (pure: the clock is the caller's).

Docker's rules: ``no`` never restarts; ``always`` restarts whatever the exit, unless
the container was stopped by a user; ``unless-stopped`` likewise (and, unlike
``always``, also stays down across an engine restart after a user stop);
``on-failure[:N]`` restarts on a non-zero exit, at most N times (0 = no limit). The
delay starts at 100 ms and doubles per restart up to a minute; a container that ran
for 10 s or more is considered healthy again and the delay starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

PolicyName = Literal["no", "always", "on-failure", "unless-stopped"]
POLICY_NAMES: tuple[str, ...] = ("no", "always", "on-failure", "unless-stopped")

INITIAL_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 60.0
RESET_AFTER_SECONDS = 10.0


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class RestartPolicy:
    name: PolicyName = "no"
    maximum_retry_count: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """Compose's short form: ``no``, ``always``, ``on-failure[:N]``, ``unless-stopped``."""
        name, _, count_text = text.partition(":")
        if name not in POLICY_NAMES:
            raise PolicyError(f"unknown restart policy {text!r}")
        count = 0
        if count_text:
            if name != "on-failure":
                raise PolicyError(f"restart policy {name} takes no retry count")
            try:
                count = int(count_text)
            except ValueError:
                raise PolicyError(f"restart policy {text!r}: retry count is not a number") from None
        return cls._checked(name, count)

    @classmethod
    def from_docker(cls, value: Any) -> RestartPolicy:
        """``HostConfig.RestartPolicy``: ``{"Name": "on-failure", "MaximumRetryCount": 3}``."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise PolicyError("RestartPolicy must be an object")
        name = value.get("Name") or "no"
        count = value.get("MaximumRetryCount") or 0
        if not isinstance(name, str) or name not in POLICY_NAMES:
            raise PolicyError(f"unknown restart policy {name!r}")
        if not isinstance(count, int) or isinstance(count, bool):
            raise PolicyError("RestartPolicy.MaximumRetryCount must be an integer")
        if count and name != "on-failure":
            raise PolicyError(f"restart policy {name} takes no MaximumRetryCount")
        return cls._checked(name, count)

    @classmethod
    def _checked(cls, name: str, count: int) -> RestartPolicy:
        if count < 0:
            raise PolicyError("restart retry count must not be negative")
        return cls(name, count)  # type: ignore[arg-type]

    def to_docker(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}

    def should_restart(self, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
        """Whether a container that just exited is started again."""
        if stopped_by_user or self.name == "no":
            return False
        if self.name in ("always", "unless-stopped"):
            return True
        if exit_code == 0:
            return False
        return self.maximum_retry_count == 0 or restart_count < self.maximum_retry_count

    def restart_on_engine_start(self, stopped_by_user: bool) -> bool:
        """Whether the engine starts a stopped container when it (re)starts."""
        return self.name == "always" or (self.name == "unless-stopped" and not stopped_by_user)


@dataclass
class Backoff:
    """Capped exponential back-off between restarts of one container."""

    delay: float = 0.0

    def next_delay(self, ran_for_seconds: float) -> float:
        if ran_for_seconds >= RESET_AFTER_SECONDS or self.delay == 0.0:
            self.delay = INITIAL_DELAY_SECONDS
        else:
            self.delay = min(self.delay * 2, MAX_DELAY_SECONDS)
        return self.delay
