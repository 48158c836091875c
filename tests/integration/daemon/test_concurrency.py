"""Concurrent API clients against one private hakod (issue 6).

``test_stress``: 50 clients at once for HAKO_STRESS_SECONDS (default 60) seconds. 34 run
create/start/stop/rm cycles (some end with kill, or ``rm -f`` of a running container) on
containers of their own; 16 race start/stop/kill/restart/pause/unpause/rm/exec on one
shared container (recreated by name when one of them removed it), and exec into it. Every answer must be one
Docker gives for that operation (2xx, 304, 404 after a removal, 409 for a conflict): never a
5xx. Afterwards ``ps -a`` agrees with inspect for every container, and once everything is
removed no mount, shim process or cgroup of the daemon is left.

``test_concurrent_builds``: 6 builds with RUN steps at once all finish (the build threads
and the blocking steps of their RUN containers must not starve each other of threads).
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import threading
import time

import pytest

from tests.daemon_harness import import_busybox, new_daemon, poll

pytestmark = pytest.mark.integration

DURATION = float(os.environ.get("HAKO_STRESS_SECONDS", "60"))
CYCLERS = 34
RACERS = 16
SHARED = "stress-shared"
# sh as pid 1 ignores SIGTERM unless it traps it: the trap makes stop quick
CMD = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


@pytest.fixture
def daemon():
    d = new_daemon()
    try:
        d.start()
        import_busybox(d)
        yield d
    finally:
        d.cleanup()


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bad: list[str] = []
        self.counts: dict[int, int] = {}
        self.requests = 0

    def note(self, what: str, status: int, body: object, allowed: tuple[int, ...]) -> None:
        with self.lock:
            self.requests += 1
            self.counts[status] = self.counts.get(status, 0) + 1
            if status not in allowed and len(self.bad) < 200:
                self.bad.append(f"{what} -> {status} {body!r}"[:400])


def _call(d, rec: Recorder, allowed: tuple[int, ...], method: str, path: str, body=None, query=None):
    try:
        status, payload = d.api(method, path, body, query=query, timeout=120)
    except Exception as exc:  # noqa: BLE001 - a dropped connection is a failure too
        rec.note(f"{method} {path}", -1, repr(exc), allowed)
        return -1, None
    rec.note(f"{method} {path}", status, payload, allowed)
    return status, payload


def _cycler(d, rec: Recorder, stop_at: float, seed: int) -> None:
    rnd = random.Random(seed)
    while time.monotonic() < stop_at:
        status, body = _call(d, rec, (201,), "POST", "/containers/create", {"Image": "busybox", "Cmd": CMD})
        if status != 201:
            continue
        cid = body["Id"]
        _call(d, rec, (204,), "POST", f"/containers/{cid}/start")
        end = rnd.random()
        if end < 0.2:  # rm -f of a running container
            _call(d, rec, (204,), "DELETE", f"/containers/{cid}", query={"force": "1"})
            continue
        if end < 0.4:
            _call(d, rec, (204,), "POST", f"/containers/{cid}/kill")
        else:
            _call(d, rec, (204,), "POST", f"/containers/{cid}/stop", query={"t": "1"})
        _call(d, rec, (204,), "DELETE", f"/containers/{cid}")


_RACE_OPS = [
    ("POST", "start", None, (204, 304, 404, 409)),
    ("POST", "stop", {"t": "1"}, (204, 304, 404, 409)),
    ("POST", "kill", None, (204, 404, 409)),
    ("POST", "restart", {"t": "1"}, (204, 304, 404, 409)),
    ("POST", "pause", None, (204, 404, 409)),
    ("POST", "unpause", None, (204, 404, 409)),
    ("DELETE", "", None, (204, 404, 409)),
    ("DELETE", "", {"force": "1"}, (204, 404, 409)),
]


def _racer(d, rec: Recorder, stop_at: float, seed: int) -> None:
    rnd = random.Random(seed)
    while time.monotonic() < stop_at:
        pick = rnd.random()
        if pick < 0.1:
            _call(d, rec, (201, 404, 409), "POST", "/containers/create",
                  {"Image": "busybox", "Cmd": CMD}, query={"name": SHARED})
            continue
        if pick < 0.18:
            status, body = _call(d, rec, (201, 404, 409), "POST", f"/containers/{SHARED}/exec",
                                 {"Cmd": ["true"]})
            if status == 201:
                _call(d, rec, (200, 404, 409), "POST", f"/exec/{body['Id']}/start", {"Detach": True})
            continue
        if pick < 0.22:
            _call(d, rec, (200, 404), "GET", f"/containers/{SHARED}/json")
            continue
        method, op, query, allowed = rnd.choice(_RACE_OPS)
        path = f"/containers/{SHARED}" + (f"/{op}" if op else "")
        _call(d, rec, allowed, method, path, query=query)


def _containers(d) -> list[dict]:
    status, items = d.api("GET", "/containers/json", query={"all": "1"})
    assert status == 200, items
    return items


def _consistent(d) -> list[str]:
    """Differences between ``ps -a`` and inspect (empty when they agree)."""
    diffs = []
    for item in _containers(d):
        status, info = d.api("GET", f"/containers/{item['Id']}/json")
        if status == 404:
            diffs.append(f"{item['Id'][:12]} listed but not inspectable")
            continue
        st = info["State"]
        if item["State"] != st["Status"]:
            diffs.append(f"{item['Id'][:12]}: ps {item['State']} inspect {st['Status']}")
        if st["Status"] in ("running", "paused") and not _alive(st["Pid"]):
            diffs.append(f"{item['Id'][:12]}: {st['Status']} but pid {st['Pid']} is gone")
        if st["Status"] in ("created", "exited") and st["Pid"]:
            diffs.append(f"{item['Id'][:12]}: {st['Status']} with pid {st['Pid']}")
    return diffs


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _leftovers(d) -> list[str]:
    found = []
    roots = (os.path.realpath(d.exec_root) + "/", os.path.realpath(d.data_root) + "/")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4]
            if target.startswith(roots):
                found.append(f"mount {target}")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if d.exec_root in cmdline and "hako.daemon.main" not in cmdline:
            found.append(f"process {pid}: {cmdline[:200]}")
    base = "/sys/fs/cgroup"
    for controller in os.listdir(base):
        top = os.path.join(base, controller, d.cgroup_parent.strip("/"))
        for dirpath, dirs, _ in os.walk(top):
            found += [f"cgroup {os.path.join(dirpath, x)}" for x in dirs]
    return found


def test_stress(daemon):
    d = daemon
    rec = Recorder()
    stop_at = time.monotonic() + DURATION
    threads = [threading.Thread(target=_cycler, args=(d, rec, stop_at, i), daemon=True)
               for i in range(CYCLERS)]
    threads += [threading.Thread(target=_racer, args=(d, rec, stop_at, 1000 + i), daemon=True)
                for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION + 180)
    assert not any(t.is_alive() for t in threads), "clients still busy 3 minutes after the end"
    print(f"\nstress: {rec.requests} requests in {DURATION:.0f}s, statuses {sorted(rec.counts.items())}")
    assert not rec.bad, "unexpected answers:\n" + "\n".join(rec.bad[:50]) + "\n" + d.read_log()[-3000:]
    assert rec.counts.get(204, 0) > 0

    # settled: every container's list entry agrees with its inspect (exits being processed
    # may take a moment, so poll)
    last: list[str] = []

    def agree() -> bool:
        nonlocal last
        last = _consistent(d)
        return not last

    try:
        poll(agree, timeout=30)
    except AssertionError:
        raise AssertionError(f"ps -a and inspect disagree: {last}") from None

    for item in _containers(d):
        status, body = d.api("DELETE", f"/containers/{item['Id']}", query={"force": "1"})
        assert status in (204, 404), body
    assert _containers(d) == []
    left: list[str] = []

    def clean() -> bool:
        nonlocal left
        left = _leftovers(d)
        return not left

    try:
        poll(clean, timeout=30)
    except AssertionError:
        raise AssertionError(f"left behind: {left}") from None


def _context(i: int) -> bytes:
    dockerfile = (f"FROM busybox\nRUN echo build-{i} > /who && sleep 1\n"
                  "RUN cat /who && test -s /who\nCMD [\"cat\", \"/who\"]\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tf.addfile(info, io.BytesIO(dockerfile))
    return buf.getvalue()


def test_concurrent_builds(daemon):
    d = daemon
    n = 6
    results: dict[int, tuple[int, object]] = {}

    def one(i: int) -> None:
        try:
            results[i] = d.api("POST", "/build", raw=_context(i),
                               query={"t": f"stress-build-{i}:latest", "nocache": "1"}, timeout=180)
        except Exception as exc:  # noqa: BLE001 - recorded as the build's failure
            results[i] = (-1, repr(exc))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 180
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"builds still running after 180s\n{d.read_log()[-3000:]}"
    for i in range(n):
        status, body = results[i]
        text = body.decode(errors="replace") if isinstance(body, bytes) else json.dumps(body)
        assert status == 200, text
        assert "Successfully tagged stress-build-%d:latest" % i in text, text
        assert "errorDetail" not in text, text
        assert f"build-{i}" in text, text
    # the API stays responsive and the RUN containers are gone
    assert d.api("GET", "/_ping")[0] == 200
    assert _containers(d) == []
