"""Restart policies: whether an exited container starts again, and after how long.

Follows moby's ``restartmanager``: ``always`` and ``unless-stopped`` restart unless the
user stopped or killed the container; ``on-failure[:N]`` restarts on a non-zero exit, at
most N times when N > 0. The delay starts at 100 ms and doubles while the container keeps
exiting within 10 s of its start, up to one minute; a longer run resets it.

Layer: daemon (6). May import: errors.
"""

from __future__ import annotations

from typing import Any

_FIRST_DELAY = 0.1
_MAX_DELAY = 60.0
_STABLE_RUN = 10.0


def should_restart(policy: dict[str, Any] | None, exit_code: int, manually_stopped: bool,
                   restart_count: int) -> bool:
    """Whether the policy asks for a restart after this exit.

    Args:
        policy: HostConfig.RestartPolicy (``Name``, ``MaximumRetryCount``).
        exit_code: the exit status just recorded.
        manually_stopped: the user stopped, killed or removed the container.
        restart_count: restarts done so far by the policy.
    """
    name = (policy or {}).get("Name") or "no"
    if manually_stopped or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = int((policy or {}).get("MaximumRetryCount") or 0)
        return exit_code != 0 and (limit <= 0 or restart_count < limit)
    return False


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the last delay and how long the run lasted."""
    if ran_for >= _STABLE_RUN or previous <= 0:
        return _FIRST_DELAY
    return min(previous * 2, _MAX_DELAY)
