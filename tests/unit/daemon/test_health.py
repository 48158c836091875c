"""Health checks: Docker's rules (moby daemon/health.go) and the monitor loop, with an
injected clock, sleep and probe (no container, no real time)."""

from __future__ import annotations

import asyncio

import pytest

from hako.daemon import health
from hako.daemon.health import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    Health,
    HealthConfig,
    OutputBuffer,
    ProbeResult,
    next_interval,
)
from hako.errors import InvalidArgument

S = health.SECOND
MS = S // 1000


def _cfg(**kw) -> HealthConfig:
    return HealthConfig(("true",), **kw)


def _result(start: int, code: int, output: str = "") -> ProbeResult:
    return ProbeResult(start, start + 10 * MS, code, output)


# -- configuration -------------------------------------------------------------------------

def test_config_defaults_and_forms():
    cfg = HealthConfig.of({"Healthcheck": {"Test": ["CMD", "pg_isready", "-q"]}})
    assert cfg == HealthConfig(("pg_isready", "-q"), 30 * S, 30 * S, 0, 5 * S, 3)
    shell = HealthConfig.of({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 200 * MS,
                                             "Retries": 2, "StartPeriod": S, "StartInterval": 100 * MS}})
    assert shell.argv == ("/bin/sh", "-c", "test -f /ok")
    assert (shell.interval, shell.retries, shell.start_period, shell.start_interval) == (200 * MS, 2, S, 100 * MS)
    # the container's SHELL is used, as moby's getShell
    custom = HealthConfig.of({"Shell": ["/bin/bash", "-ec"], "Healthcheck": {"Test": ["CMD-SHELL", "x"]}})
    assert custom.argv == ("/bin/bash", "-ec", "x")


@pytest.mark.parametrize("config", [
    {}, {"Healthcheck": None}, {"Healthcheck": {}}, {"Healthcheck": {"Test": []}},
    {"Healthcheck": {"Test": ["NONE"]}}, {"Healthcheck": {"Test": ["HTTP", "/"]}},
])
def test_no_probe(config):
    assert HealthConfig.of(config) is None


def test_retries_zero_or_negative_means_the_default():
    assert HealthConfig.of({"Healthcheck": {"Test": ["CMD", "x"], "Retries": 0}}).retries == 3


@pytest.mark.parametrize("hc,message", [
    ({"Interval": -10 * MS}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Interval": 500_000}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Timeout": -100 * MS}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"Retries": -1}, "Retries in Healthcheck cannot be negative"),
    ({"StartPeriod": -1}, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ({"StartInterval": 999_999}, "StartInterval in Healthcheck cannot be less than 1ms"),
])
def test_create_time_checks(hc, message):
    with pytest.raises(InvalidArgument) as err:
        health.check_config({"Test": ["CMD", "true"], **hc})
    assert str(err.value) == message


def test_create_time_checks_accept_zero_and_minimum():
    health.check_config({"Test": ["CMD", "true"], "Interval": 0, "Timeout": MS, "Retries": 0,
                         "StartPeriod": MS, "StartInterval": 0})
    health.check_config(None)


# -- moby's handleProbeResult --------------------------------------------------------------

def test_status_transitions_with_one_retry():
    h, cfg = Health(), _cfg(retries=1)
    assert h.record(_result(S, 1), cfg, 0) == UNHEALTHY
    assert (h.status, h.failing_streak) == (UNHEALTHY, 1)
    assert h.record(_result(2 * S, 1), cfg, 0) is None  # no change, no event
    assert h.failing_streak == 2
    assert h.record(_result(3 * S, 0), cfg, 0) == HEALTHY
    assert (h.status, h.failing_streak) == (HEALTHY, 0)
    assert h.record(_result(4 * S, 0), cfg, 0) is None


def test_unhealthy_after_retries_consecutive_failures_only():
    h, cfg = Health(), _cfg(retries=3)
    h.record(_result(S, 1), cfg, 0)
    h.record(_result(2 * S, 1), cfg, 0)
    assert (h.status, h.failing_streak) == (STARTING, 2)
    h.record(_result(3 * S, 0), cfg, 0)  # a success resets the streak
    for i in range(2):
        assert h.record(_result((4 + i) * S, 1), cfg, 0) is None
    assert h.record(_result(6 * S, 7), cfg, 0) == UNHEALTHY  # any non-zero code fails
    assert h.failing_streak == 3


def test_start_period_failures_do_not_count_while_starting():
    h, cfg = Health(), _cfg(retries=1, start_period=3 * S)
    started = 100 * S
    assert h.record(_result(started + S, 1), cfg, started) is None
    assert h.record(_result(started + 2 * S, 1), cfg, started) is None
    assert (h.status, h.failing_streak) == (STARTING, 0)
    # the failure that starts after the period counts
    assert h.record(_result(started + 3 * S, 1), cfg, started) == UNHEALTHY


def test_start_period_does_not_protect_a_container_that_was_healthy():
    h, cfg = Health(), _cfg(retries=1, start_period=60 * S)
    h.record(_result(S, 0), cfg, 0)
    assert h.record(_result(2 * S, 1), cfg, 0) == UNHEALTHY


def test_log_keeps_the_last_five_and_reset_keeps_it():
    h, cfg = Health(), _cfg(retries=10)
    for i in range(7):
        h.record(_result(i * S, i, f"out{i}"), cfg, 0)
    assert [e["Output"] for e in h.log] == [f"out{i}" for i in range(2, 7)]
    assert h.log[-1] == {"Start": "1970-01-01T00:00:06Z", "End": "1970-01-01T00:00:06.01Z",
                         "ExitCode": 6, "Output": "out6"}
    h.reset()
    assert (h.status, h.failing_streak, len(h.log)) == (STARTING, 0, 5)


def test_health_round_trips_through_the_record():
    h, cfg = Health(), _cfg(retries=1)
    h.record(_result(S, 1, "bad"), cfg, 0)
    doc = h.to_doc()
    assert doc["Status"] == UNHEALTHY and doc["FailingStreak"] == 1
    assert Health.from_doc(doc) == h
    assert Health.from_doc(None) is None
    assert Health.from_doc({"Status": ""}).status == UNHEALTHY  # moby's Status() of an unset one


# -- intervals, output, timeout text -------------------------------------------------------

def test_next_interval():
    cfg = _cfg(interval=30 * S, start_period=60 * S, start_interval=5 * S)
    assert next_interval(cfg, STARTING, 0) == 5 * S  # starting, inside the period
    assert next_interval(cfg, HEALTHY, 0) == 30 * S
    assert next_interval(cfg, STARTING, 40 * S) == 20 * S  # the period ends before the interval
    assert next_interval(cfg, STARTING, 60 * S) == 30 * S
    assert next_interval(_cfg(interval=S), STARTING, 0) == S  # no start period


def test_output_buffer_truncates_at_4096_with_dots():
    buf = OutputBuffer()
    buf.write(b"a" * 4000)
    buf.write(b"b" * 200)
    buf.write(b"c")
    text = buf.text()
    assert text == "a" * 4000 + "b" * 96 + "..."
    small = OutputBuffer()
    small.write(b"ok\n\xff")
    assert small.text() == "ok\n\ufffd"


def test_timeout_message():
    assert health.timeout_message(200 * MS, "") == "Health check exceeded timeout (200ms)"
    assert health.timeout_message(90 * S, "partial") == "Health check exceeded timeout (1m30s): partial"


# -- the monitor loop ----------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 1_000 * S
        self.sleeps: list[float] = []

    def time_ns(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += int(seconds * S)
        await asyncio.sleep(0)


class _Container:
    def __init__(self, clock: _Clock, hc: dict) -> None:
        from hako.daemon.state import State, Status

        self.id = "c" * 64
        self.config = {"Healthcheck": hc}
        self.state = State(status=Status.RUNNING, started_at=health.format_time(clock.now))


def test_monitor_runs_probes_and_emits_on_change():
    clock = _Clock()
    codes = [0, 1, 1, 0]
    events: list[str] = []
    saves: list[int] = []
    done = asyncio.Event

    async def main() -> None:
        finished = done()
        c = _Container(clock, {"Test": ["CMD", "true"], "Interval": 200 * MS, "Retries": 2})

        async def probe(ctr, cfg):
            if not codes:
                finished.set()
                await asyncio.Event().wait()  # the fifth probe runs until it is cancelled
            clock.now += 50 * MS  # the probe's own duration
            code = codes.pop(0)
            return code, f"code {code}"

        async def save(ctr):
            saves.append(len(ctr.state.health.log))

        from hako.daemon.health_monitor import HealthMonitor

        mon = HealthMonitor(probe, save, lambda ctr, action: events.append(action),
                            clock=clock.time_ns, sleep=clock.sleep)
        mon.init(c)
        assert c.state.health.status == STARTING and mon.running(c.id)
        await asyncio.wait_for(finished.wait(), 5)
        mon.stop(c)
        assert not mon.running(c.id)
        assert events == ["health_status: healthy", "health_status: unhealthy", "health_status: healthy"]
        assert saves == [1, 2, 3, 4]
        log = c.state.health.log
        assert [e["ExitCode"] for e in log] == [0, 1, 1, 0]
        assert log[0]["Output"] == "code 0"
        # the interval is counted from the end of one probe to the start of the next
        assert clock.sleeps == [0.2, 0.2, 0.2, 0.2, 0.2]

    asyncio.run(main())


def test_monitor_records_a_probe_error_as_exit_minus_one():
    clock = _Clock()

    async def main() -> None:
        c = _Container(clock, {"Test": ["CMD", "x"], "Interval": S, "Retries": 1})
        seen = asyncio.Event()

        async def probe(ctr, cfg):
            if seen.is_set():
                await asyncio.Event().wait()
            seen.set()
            raise RuntimeError("OCI runtime exec failed: boom: unknown")

        async def save(ctr):
            pass

        from hako.daemon.health_monitor import HealthMonitor

        mon = HealthMonitor(probe, save, lambda *a: None, clock=clock.time_ns, sleep=clock.sleep)
        mon.init(c)
        await asyncio.wait_for(seen.wait(), 5)
        while not c.state.health.log:
            await asyncio.sleep(0)
        mon.stop(c)
        entry = c.state.health.log[0]
        assert entry["ExitCode"] == -1 and entry["Output"] == "OCI runtime exec failed: boom: unknown"
        assert c.state.health.status == UNHEALTHY

    asyncio.run(main())


def test_monitor_does_not_run_for_paused_or_probeless_containers():
    clock = _Clock()

    async def main() -> None:
        from hako.daemon.health_monitor import HealthMonitor
        from hako.daemon.state import Status

        async def never(ctr, cfg):
            raise AssertionError("probed")

        mon = HealthMonitor(never, never, lambda *a: None, clock=clock.time_ns, sleep=clock.sleep)
        none = _Container(clock, {"Test": ["NONE"]})
        mon.init(none)
        assert none.state.health is None and not mon.running(none.id)
        c = _Container(clock, {"Test": ["CMD", "true"], "Interval": 3600 * S})
        mon.init(c)
        assert mon.running(c.id)
        c.state.status = Status.PAUSED
        mon.update(c)
        assert not mon.running(c.id)
        c.state.status = Status.RUNNING
        c.state.health.status = HEALTHY
        mon.update(c)  # unpause: probing again, the status kept
        assert mon.running(c.id) and c.state.health.status == HEALTHY
        mon.init(c)  # a restart: starting again
        assert c.state.health.status == STARTING
        mon.stop(c)
        await asyncio.sleep(0)

    asyncio.run(main())


# -- what clients see: ps status, the health filter, event filters ------------------------

def _listed(status: str | None):
    from hako.daemon.state import Container, State, Status

    state = State(status=Status.RUNNING, started_at=health.format_time(0))
    if status is not None:
        state.health = Health(status)
    return Container(id="a" * 64, name="n", created="", image="", image_ref="", path="", args=[],
                     config={}, host_config={}, root="/nonexistent", state=state)


@pytest.mark.parametrize("status,text", [
    (STARTING, "Up 5 seconds (health: starting)"), (HEALTHY, "Up 5 seconds (healthy)"),
    (UNHEALTHY, "Up 5 seconds (unhealthy)"), (None, "Up 5 seconds"),
])
def test_ps_status_text(status, text):
    from hako.daemon.api import wire

    c = _listed(status)
    assert wire.status_text(c, now=5.5) == text
    state = wire.state_json(c)
    assert ("Health" in state) == (status is not None)


def test_paused_status_text_has_no_health():
    from hako.daemon.api import wire
    from hako.daemon.state import Status

    c = _listed(HEALTHY)
    c.state.status = Status.PAUSED
    assert wire.status_text(c, now=5.5) == "Up 5 seconds (Paused)"


def test_health_filter():
    from hako.daemon import listing

    cs = [_listed(HEALTHY), _listed(UNHEALTHY), _listed(None), _listed(STARTING)]

    def pick(*values):
        chosen = listing.select(cs, {"health": list(values)}, False, 0, None, None)
        return [c.state.health.status if c.state.health else "none" for c in chosen]

    assert pick("healthy") == ["healthy"]
    assert pick("none") == ["none"]
    assert pick("starting", "unhealthy") == ["unhealthy", "starting"]
    with pytest.raises(InvalidArgument) as err:
        pick("sick")
    assert str(err.value) == "Unrecognised filter value for health: sick"


def test_event_filter_health_status_is_a_prefix_match():
    from hako.daemon.events import _match

    def ev(action):
        return {"Type": "container", "Action": action, "Actor": {"ID": "x", "Attributes": {}}}

    assert _match(ev("health_status: healthy"), {"event": ["health_status"]})
    assert _match(ev("exec_create: true "), {"event": ["exec_create"]})
    assert _match(ev("health_status: healthy"), {"event": ["health_status: healthy"]})
    assert not _match(ev("health_status: unhealthy"), {"event": ["health_status: healthy"]})
    assert not _match(ev("start"), {"event": ["health_status"]})
    assert not _match(ev("exec_die"), {"event": ["exec"]})


def test_image_healthcheck_fills_the_empty_fields_of_the_users():
    from hako.daemon.create import merge_config

    img = {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "probe"], "Interval": 5 * S, "Retries": 4}}
    assert merge_config({}, img)["Healthcheck"] == img["Healthcheck"]
    merged = merge_config({"Healthcheck": {"Interval": S}}, img)["Healthcheck"]
    assert merged == {"Test": ["CMD", "probe"], "Interval": S, "Retries": 4}
    assert merge_config({"Healthcheck": {"Test": ["NONE"]}}, img)["Healthcheck"]["Test"] == ["NONE"]
    assert merge_config({}, {"Cmd": ["sh"]}).get("Healthcheck") is None


def test_healthcheck_field_types_are_checked_like_gos_decoder():
    from hako.daemon.wiretypes import check_create_body

    with pytest.raises(InvalidArgument) as err:
        check_create_body({"Image": "x", "Healthcheck": {"Interval": "1s"}})
    assert str(err.value) == ("json: cannot unmarshal string into Go struct field "
                              "ContainerCreateRequest.Healthcheck.Interval of type time.Duration")
    check_create_body({"Image": "x", "Healthcheck": {"Test": ["CMD", "x"], "Retries": 3}})
