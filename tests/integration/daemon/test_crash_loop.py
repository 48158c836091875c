"""hakod SIGKILLed at random points during ``run``, ``build``, ``load`` and ``commit``,
30 times in a loop on one data root. After each restart the store passes the consistency
check (``GET /system/check``, ``hako system check``: every image's layers present, no
orphan snapshot, no leftover extraction or ingest, no container record without its rootfs,
no shim without a running container) and every container is re-adopted (running with a
live process) or marked exited/created, or dead when the kill cut its removal short (as
moby marks it), and then removable.

The kill point is random on purpose (a seeded RNG, printed on failure): it is where the
daemon dies, not a wait for something to happen.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tarfile

import pytest

from tests.daemon_harness import docker, import_busybox
from tests.data.hostile import docker_archive

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("HAKO_CRASH_ROUNDS", "30"))


def _random_layer(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(40):
            data = rng.randbytes(rng.randrange(1, 200_000))
            info = tarfile.TarInfo(f"d{i % 5}/f{i}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _context(rng: random.Random) -> bytes:
    token = rng.randbytes(8).hex()
    dockerfile = (f"FROM busybox\nRUN echo {token} > /token\nCOPY blob /blob\n"
                  f"RUN head -c 3000000 /dev/urandom > /big\nLABEL t={token}\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", dockerfile), ("blob", rng.randbytes(2_000_000))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _start_op(d, cli, op: str, rng: random.Random, n: int) -> subprocess.Popen:
    env = dict(d.env, DOCKER_BUILDKIT="0")
    devnull = subprocess.DEVNULL
    if op == "run":
        args = ["run", "-d", "busybox", "sleep", "600"] if n % 2 else \
            ["run", "--rm", "busybox", "sh", "-c", "head -c 1000000 /dev/urandom > /x"]
        return subprocess.Popen([cli, *args], env=env, stdout=devnull, stderr=devnull)
    if op == "build":
        p = subprocess.Popen([cli, "build", "-q", "-t", f"crash-build:{n}", "-"], env=env,
                             stdin=subprocess.PIPE, stdout=devnull, stderr=devnull)
    elif op == "load":
        p = subprocess.Popen([cli, "load"], env=env, stdin=subprocess.PIPE, stdout=devnull,
                             stderr=devnull)
    else:  # commit
        name = f"crash-commit-{n}"
        docker(d, cli, "run", "--name", name, "busybox", "sh", "-c",
               "head -c 4000000 /dev/urandom > /big", check=True)
        return subprocess.Popen([cli, "commit", name, f"crash-commit:{n}"], env=env,
                                stdout=devnull, stderr=devnull)
    data = _context(rng) if op == "build" else docker_archive(_random_layer(rng), f"crash-load:{n}")
    try:
        p.stdin.write(data)
        p.stdin.close()
    except BrokenPipeError:
        pass
    return p


def _assert_consistent(d, cli, seed: int, n: int, op: str) -> None:
    where = f"(seed {seed}, round {n}, {op})"
    status, body = d.api("GET", "/system/check")
    assert status == 200, body
    assert body["Problems"] == [], f"{where}: {body['Problems']}\n{d.read_log()}"
    status, items = d.api("GET", "/containers/json", query={"all": "1"})
    assert status == 200, items
    for item in items:
        status, info = d.api("GET", f"/containers/{item['Id']}/json")
        assert status == 200, info
        st = info["State"]
        assert st["Status"] in ("created", "running", "exited", "dead"), f"{where}: {st}"
        if st["Status"] == "running":
            assert st["Pid"] > 0 and os.path.exists(f"/proc/{st['Pid']}"), f"{where}: {st}"
    for item in items:  # a removal the kill cut short left it dead, as moby: rm finishes it
        if item["State"] == "dead":
            status, body = d.api("DELETE", f"/containers/{item['Id']}", query={"force": "1"})
            assert status == 204, f"{where}: {body}"
    res = subprocess.run([sys.executable, "-m", "hako.cli", "system", "check"],
                         env=d.env, capture_output=True, timeout=60)
    assert res.returncode == 0 and b"no problems found" in res.stdout, res.stderr


def test_sigkill_during_operations_leaves_a_consistent_store(fresh_hakod, docker_cli):
    seed = int(os.environ.get("HAKO_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    d = fresh_hakod().start()
    import_busybox(d)
    cli = docker_cli
    ops = ["run", "build", "load", "commit"]
    for n in range(ROUNDS):
        op = ops[n % len(ops)]
        proc = _start_op(d, cli, op, rng, n)
        try:
            proc.wait(timeout=rng.uniform(0.05, 1.5))  # the random kill point
        except subprocess.TimeoutExpired:
            pass
        d.kill9()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        d.start()
        _assert_consistent(d, cli, seed, n, op)
        if n % 8 == 7:  # keep the store small: the check must hold after removals too
            d.remove_all_containers()
            _assert_consistent(d, cli, seed, n, "cleanup")
