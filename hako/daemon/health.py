"""Health checks: the configuration, the state and Docker's rules (moby daemon/health.go).

Pure logic, no I/O: ``daemon/health_monitor.py`` runs the probes and calls these.

- ``HealthConfig.of(config)`` reads a container's ``Config.Healthcheck`` with Docker's defaults
  (Interval 30s, Timeout 30s, StartPeriod 0, StartInterval 5s, Retries 3); None when the
  container has no probe (no Healthcheck, an empty Test, ``["NONE"]`` or an unknown type).
- ``Health`` is ``State.Health``: Status (starting, healthy, unhealthy), FailingStreak and the
  Log of the last 5 probe results. ``Health.reset()`` is moby's initHealthMonitor (start,
  restart, daemon restore): starting, streak 0, the log kept.
- ``Health.record(...)`` is moby's handleProbeResult: exit 0 → healthy, streak 0; a failure
  inside the start period while still starting does not count; otherwise the streak grows and
  reaches ``retries`` → unhealthy.
- ``next_interval(...)`` is the monitor's wait before the next probe.
- ``check_config(...)`` is moby's create-time validateHealthCheck (Docker's 400 texts).

Durations are Go's (int nanoseconds); times are epoch nanoseconds.

Layer: daemon (6). May import: errors, support.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
STATUSES = (STARTING, HEALTHY, UNHEALTHY, NONE)  # the values of the ps filter health=

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
MINIMUM_DURATION = 1_000_000  # 1ms, moby's container.MinimumDuration


def _default(value: Any, default: int) -> int:
    return int(value) if value else default


@dataclass(frozen=True)
class HealthConfig:
    """A container's probe: its command and Docker's timings with the defaults applied."""

    argv: tuple[str, ...]
    interval: int = DEFAULT_INTERVAL
    timeout: int = DEFAULT_TIMEOUT
    start_period: int = DEFAULT_START_PERIOD
    start_interval: int = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    @classmethod
    def of(cls, config: dict[str, Any]) -> "HealthConfig | None":
        """The probe of a container ``Config`` (moby's getProbe), None when there is none.

        ``CMD-SHELL`` runs through the container's ``Shell`` or ``/bin/sh -c`` (getShell).
        """
        hc = config.get("Healthcheck") or {}
        test = list(hc.get("Test") or [])
        if not test or test[0] not in ("CMD", "CMD-SHELL"):
            return None  # NONE, or an unknown type (moby warns and runs nothing)
        argv = test[1:]
        if test[0] == "CMD-SHELL":
            argv = list(config.get("Shell") or ["/bin/sh", "-c"]) + argv
        retries = int(hc.get("Retries") or 0)
        return cls(tuple(argv), _default(hc.get("Interval"), DEFAULT_INTERVAL),
                   _default(hc.get("Timeout"), DEFAULT_TIMEOUT),
                   _default(hc.get("StartPeriod"), DEFAULT_START_PERIOD),
                   _default(hc.get("StartInterval"), DEFAULT_START_INTERVAL),
                   retries if retries > 0 else DEFAULT_RETRIES)


def format_time(ns: int) -> str:
    """Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped), as Docker's JSON."""
    secs, frac = divmod(ns, SECOND)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


@dataclass(frozen=True)
class ProbeResult:
    """One probe run (Docker's HealthcheckResult)."""

    start: int
    end: int
    exit_code: int
    output: str

    def to_doc(self) -> dict[str, Any]:
        return {"Start": format_time(self.start), "End": format_time(self.end),
                "ExitCode": self.exit_code, "Output": self.output}


@dataclass
class Health:
    """``State.Health``. ``log`` holds the results as their JSON documents, oldest first."""

    status: str = STARTING
    failing_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """moby's initHealthMonitor: starting again, streak 0; the log is kept."""
        self.status = STARTING
        self.failing_streak = 0

    def record(self, result: ProbeResult, cfg: HealthConfig, started_at: int) -> str | None:
        """Apply one result (moby's handleProbeResult).

        Args:
            result: the probe's result (its ``start`` decides the start period).
            cfg: the container's probe settings (retries, start period).
            started_at: the container's StartedAt, epoch nanoseconds.

        Returns:
            The new status when it changed (the caller emits ``health_status: <status>``),
            else None.
        """
        old = self.status
        self.log = (self.log + [result.to_doc()])[-MAX_LOG_ENTRIES:]
        if result.exit_code == 0:
            self.failing_streak = 0
            self.status = HEALTHY
        elif not (self.status == STARTING and result.start - started_at < cfg.start_period):
            self.failing_streak += 1
            if self.failing_streak >= cfg.retries:
                self.status = UNHEALTHY
        return self.status if self.status != old else None

    def to_doc(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": list(self.log)}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> "Health | None":
        if not doc:
            return None
        # moby's Health.Status(): a status never set reads as unhealthy
        return cls(doc.get("Status") or UNHEALTHY, int(doc.get("FailingStreak") or 0),
                   list(doc.get("Log") or []))


def next_interval(cfg: HealthConfig, status: str, since_start: int) -> int:
    """The wait before the next probe (moby's getInterval), in nanoseconds.

    Args:
        cfg: the probe settings.
        status: the current health status.
        since_start: nanoseconds since the container's StartedAt.
    """
    if since_start >= cfg.start_period:
        return cfg.interval
    remaining = cfg.start_period - since_start
    if remaining < cfg.interval:
        return remaining  # the first probe after the start period comes right at its end
    return cfg.start_interval if status == STARTING else cfg.interval


class OutputBuffer:
    """moby's limitedBuffer: the first 4096 bytes of stdout and stderr, ``...`` if cut."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.truncated = False

    def write(self, data: bytes) -> None:
        keep = max(0, MAX_OUTPUT - len(self._buf))
        self._buf += data[:keep]
        if len(data) > keep:
            self.truncated = True

    def text(self) -> str:
        out = self._buf.decode("utf-8", "replace")  # Go's JSON replaces invalid UTF-8 too
        return out + "..." if self.truncated else out


def timeout_message(timeout: int, output: str) -> str:
    """Docker's Output of a probe that outlived its timeout (its ExitCode is -1)."""
    from hako.support.units import format_go_duration

    head = f"Health check exceeded timeout ({format_go_duration(timeout)})"
    return f"{head}: {output}" if output else head


def check_config(hc: Any) -> None:
    """Docker's create-time checks of ``Config.Healthcheck`` (moby validateHealthCheck).

    Raises:
        InvalidArgument: e.g. ``Interval in Healthcheck cannot be less than 1ms``.
    """
    if not isinstance(hc, dict):
        return
    for key in ("Interval", "Timeout"):
        value = int(hc.get(key) or 0)
        if value and value < MINIMUM_DURATION:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if int(hc.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    for key in ("StartPeriod", "StartInterval"):
        value = int(hc.get(key) or 0)
        if value and value < MINIMUM_DURATION:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
