"""Black-box: log drivers, rotation and ``docker logs`` options through the real docker CLI,
compared with what Docker 20.10 prints (its texts are quoted in the assertions)."""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import subprocess
from datetime import datetime

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll, python_shim_only

pytestmark = pytest.mark.integration

LINES = 200
PRINT = f"for i in $(seq 1 {LINES}); do echo line-$i; done"
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.fixture
def names(hakod, docker_cli):
    made: list[str] = []
    yield made
    if made:
        docker(hakod, docker_cli, "rm", "-f", *made)


def _run(hakod, docker_cli, names, name, *args):
    names.append(name)
    return docker(hakod, docker_cli, "run", "--name", name, *args, check=True)


def _cid(hakod, docker_cli, name) -> str:
    return out(docker(hakod, docker_cli, "inspect", "-f", "{{.Id}}", name, check=True)).strip()


def _log_files(hakod, cid, pattern="{cid}-json.log*") -> dict[str, int]:
    root = os.path.join(hakod.data_root, "containers", cid)
    return {os.path.relpath(p, root): os.path.getsize(p)
            for p in glob.glob(os.path.join(root, pattern.format(cid=cid)))}


def _assert_suffix(lines: list[str], last: int = LINES) -> int:
    """The lines are line-K … line-<last> in order; returns K."""
    assert lines, "no lines"
    first = int(lines[0].split("-")[1])
    assert lines == [f"line-{i}" for i in range(first, last + 1)], lines[:5]
    return first


@python_shim_only
def test_json_file_rotation_keeps_max_file_files_and_logs_reads_them_in_order(hakod, docker_cli, names):
    _run(hakod, docker_cli, names, "lg-rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
         "busybox", "sh", "-c", PRINT)
    cid = _cid(hakod, docker_cli, "lg-rot")
    files = _log_files(hakod, cid)
    assert sorted(files) == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"], files
    record = len(json.dumps({"log": f"line-{LINES}\n", "stream": "stdout", "time": "x" * 30}))
    assert all(size <= 1000 + record for size in files.values()), files
    lines = out(docker(hakod, docker_cli, "logs", "lg-rot", check=True)).splitlines()
    first = _assert_suffix(lines)
    assert first > 1  # the oldest lines were rotated away
    kept = sum(open(os.path.join(hakod.data_root, "containers", cid, f)).read().count("\n") for f in files)
    assert len(lines) == kept
    tail = out(docker(hakod, docker_cli, "logs", "--tail", "15", "lg-rot", check=True)).splitlines()
    assert tail == [f"line-{i}" for i in range(LINES - 14, LINES + 1)]  # spans rotated files
    info = json.loads(out(docker(hakod, docker_cli, "inspect", "lg-rot", check=True)))[0]
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                               "Config": {"max-file": "3", "max-size": "1k"}}
    assert info["LogPath"].endswith(f"/containers/{cid}/{cid}-json.log")


@python_shim_only
def test_compress_gzips_rotated_files(hakod, docker_cli, names):
    _run(hakod, docker_cli, names, "lg-gz", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
         "--log-opt", "compress=true", "busybox", "sh", "-c", PRINT)
    cid = _cid(hakod, docker_cli, "lg-gz")
    want = [f"{cid}-json.log", f"{cid}-json.log.1.gz", f"{cid}-json.log.2.gz"]
    files = poll(lambda: (f := _log_files(hakod, cid)) and sorted(f) == want and f)  # compressed off-path
    root = os.path.join(hakod.data_root, "containers", cid)
    inner = gzip.decompress(open(os.path.join(root, want[1]), "rb").read()).decode().splitlines()
    assert inner and all(json.loads(x)["stream"] == "stdout" for x in inner)
    lines = out(docker(hakod, docker_cli, "logs", "lg-gz", check=True)).splitlines()
    _assert_suffix(lines)
    oldest = gzip.decompress(open(os.path.join(root, want[2]), "rb").read()).count(b"\n")
    live = open(os.path.join(root, want[0]), "rb").read().count(b"\n")
    assert len(lines) == oldest + len(inner) + live
    assert files[want[1]] < 1000


@python_shim_only
def test_local_driver(hakod, docker_cli, names):
    _run(hakod, docker_cli, names, "lg-local", "--log-driver", "local", "--log-opt", "max-size=1k",
         "busybox", "sh", "-c", PRINT)
    cid = _cid(hakod, docker_cli, "lg-local")
    info = json.loads(out(docker(hakod, docker_cli, "inspect", "lg-local", check=True)))[0]
    assert info["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1k"}}
    assert info["LogPath"] == ""  # Docker does not expose the local driver's files
    files = poll(lambda: (f := _log_files(hakod, cid, "local-logs/container.log*"))
                 and len(f) == 5 and all(n == "local-logs/container.log" or n.endswith(".gz") for n in f) and f)
    assert len(files) == 5  # Docker's local default: max-file 5, compressed
    _assert_suffix(out(docker(hakod, docker_cli, "logs", "lg-local", check=True)).splitlines())


def test_none_driver_keeps_nothing_and_logs_refuses(hakod, docker_cli, names):
    res = _run(hakod, docker_cli, names, "lg-none", "--log-driver", "none", "busybox", "echo", "hi")
    assert out(res) == "hi\n"  # attached output does not go through the log
    res = docker(hakod, docker_cli, "logs", "lg-none")
    assert res.returncode == 1
    assert res.stderr.decode().strip() == ("Error response from daemon: configured logging driver "
                                           "does not support reading")
    cid = _cid(hakod, docker_cli, "lg-none")
    assert _log_files(hakod, cid) == {}


@pytest.mark.parametrize("opts,message", [
    (["--log-opt", "max-size=abc"], "failed to initialize logging driver: invalid size: 'abc'"),
    (["--log-opt", "max-file=0"], "failed to initialize logging driver: max-file cannot be less than 1"),
    (["--log-opt", "compress=true"], "failed to initialize logging driver: compress cannot be true when "
                                     "max-file is less than 2 or max-size is not set"),
    (["--log-opt", "max-file=x"], 'failed to initialize logging driver: strconv.Atoi: parsing "x": '
                                  'invalid syntax'),
    (["--log-opt", "foo=1"], "unknown log opt 'foo' for json-file log driver"),
    (["--log-driver", "local", "--log-opt", "max-file=1"],
     "failed to initialize logging driver: compression cannot be enabled when max file count is 1"),
    (["--log-driver", "local", "--log-opt", "foo=1"], "unknown log opt 'foo' for log driver local"),
    (["--log-driver", "nosuch"], 'error looking up logging plugin nosuch: plugin "nosuch" not found'),
])
def test_bad_log_options_get_dockers_errors(hakod, docker_cli, opts, message):
    res = docker(hakod, docker_cli, "run", "--rm", *opts, "busybox", "echo", "ran")
    assert res.returncode == 125, res.stderr
    assert f": Error response from daemon: {message}\n" in res.stderr.decode()  # docker: or hako:
    assert "ran" not in out(res)


@python_shim_only
def test_timestamps_details_since_until(hakod, docker_cli, names):
    _run(hakod, docker_cli, names, "lg-fmt", "--label", "a=1", "--label", "b=x,y", "-e", "FOO=bar",
         "--log-opt", "labels=a,b", "--log-opt", "env=FOO", "--log-opt", "tag={{.Name}}/{{.ID}}",
         "busybox", "sh", "-c", "echo one; usleep 100000; echo two; usleep 100000; echo three")
    cid = _cid(hakod, docker_cli, "lg-fmt")
    stamped = out(docker(hakod, docker_cli, "logs", "-t", "lg-fmt", check=True)).splitlines()
    assert [re.fullmatch(rf"({TS}) (\w+)", x).group(2) for x in stamped] == ["one", "two", "three"]
    details = out(docker(hakod, docker_cli, "logs", "--details", "lg-fmt", check=True)).splitlines()
    assert details[0] == f"FOO=bar,a=1,b=x%2Cy,tag=lg-fmt%2F{cid[:12]} one"
    both = out(docker(hakod, docker_cli, "logs", "-t", "--details", "--tail", "1", "lg-fmt")).splitlines()
    assert both == [f"{stamped[2].split()[0]} FOO=bar,a=1,b=x%2Cy,tag=lg-fmt%2F{cid[:12]} three"]
    t2 = stamped[1].split()[0]
    since = out(docker(hakod, docker_cli, "logs", "--since", t2, "lg-fmt", check=True)).split()
    assert since == ["two", "three"]
    until = out(docker(hakod, docker_cli, "logs", "--until", t2, "lg-fmt", check=True)).split()
    assert until == ["one", "two"]
    unix = datetime.fromisoformat(t2[:26] + "+00:00").timestamp()
    assert out(docker(hakod, docker_cli, "logs", "--since", f"{unix:.6f}", "lg-fmt")).split() == ["two", "three"]
    assert out(docker(hakod, docker_cli, "logs", "--since", "10m", "lg-fmt")).split() == ["one", "two", "three"]
    assert out(docker(hakod, docker_cli, "logs", "--until", "10m", "lg-fmt")).split() == []
    _run(hakod, docker_cli, names, "lg-plain", "busybox", "echo", "hi")
    assert out(docker(hakod, docker_cli, "logs", "--details", "lg-plain", check=True)) == " hi\n"


@python_shim_only
def test_follow_continues_across_rotations(hakod, docker_cli, names):
    # The container writes slower than the follower polls (every 50 ms): a burst that
    # rotates through every kept file between two polls loses lines for a follower.
    names.append("lg-follow")
    docker(hakod, docker_cli, "run", "-d", "--name", "lg-follow", "--log-opt", "max-size=1k",
           "--log-opt", "max-file=3", "busybox", "sh", "-c",
           "echo ready; while [ ! -e /tmp/go ]; do usleep 10000; done; "
           "for i in $(seq 1 60); do echo line-$i; usleep 20000; done", check=True)
    proc = subprocess.Popen([docker_cli, "logs", "-f", "lg-follow"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=hakod.env)
    try:
        assert proc.stdout.readline() == b"ready\n"
        docker(hakod, docker_cli, "exec", "lg-follow", "touch", "/tmp/go", check=True)
        rest, _ = proc.communicate(timeout=60)  # ends when the container exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest.decode().splitlines() == [f"line-{i}" for i in range(1, 61)]
    kept = out(docker(hakod, docker_cli, "logs", "lg-follow", check=True)).splitlines()
    assert _assert_suffix(kept, 60) > 1  # so the follower did cross rotations


@python_shim_only
def test_daemon_default_log_driver_and_opts(fresh_hakod, docker_cli):
    d = fresh_hakod(extra_args=("--log-driver", "local", "--log-opt", "max-size=2k"))
    d.start()
    import_busybox(d)
    assert out(docker(d, docker_cli, "info", "--format", "{{.LoggingDriver}}")) == "local\n"
    docker(d, docker_cli, "create", "--name", "dflt", "busybox", "true", check=True)
    docker(d, docker_cli, "create", "--name", "own", "--log-driver", "json-file", "busybox", "true", check=True)
    docker(d, docker_cli, "create", "--name", "same", "--log-opt", "max-file=2", "busybox", "true", check=True)
    conf = {n: json.loads(out(docker(d, docker_cli, "inspect", "-f", "{{json .HostConfig.LogConfig}}", n)))
            for n in ("dflt", "own", "same")}
    assert conf == {"dflt": {"Type": "local", "Config": {"max-size": "2k"}},
                    "own": {"Type": "json-file", "Config": {}},
                    "same": {"Type": "local", "Config": {"max-file": "2", "max-size": "2k"}}}
    docker(d, docker_cli, "start", "-a", "dflt", check=True)
    cid = out(docker(d, docker_cli, "inspect", "-f", "{{.Id}}", "dflt")).strip()
    assert os.path.exists(os.path.join(d.data_root, "containers", cid, "local-logs", "container.log"))


def test_daemon_refuses_bad_default_log_opt(fresh_hakod):
    d = fresh_hakod(extra_args=("--log-opt", "foo=bar"))
    with pytest.raises(RuntimeError, match="unknown log opt 'foo' for json-file log driver"):
        d.start(timeout=10)
