"""Black-box: hako's stats, update, prune, context, info, events and bootstrap against a live
hakod, with what docker prints as the reference where both can run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from tests.cli.test_cli_parity import normalise
from tests.daemon_harness import docker, out, poll

pytestmark = pytest.mark.integration


def hako(d, *args, env=None, input=None, timeout=60):
    return subprocess.run(["hako", *args], capture_output=True, env=env or d.env, input=input,
                          timeout=timeout)


def ok(d, *args, **kw) -> str:
    res = hako(d, *args, **kw)
    assert res.returncode == 0, (args, res.stderr.decode())
    return out(res)


@pytest.fixture
def name(hakod):
    n = f"hakocmd-{uuid.uuid4().hex[:8]}"
    yield n
    hako(hakod, "rm", "-f", n)


def test_stats_no_stream_columns_and_json(hakod, docker_cli, name):
    ok(hakod, "run", "-d", "--name", name, "--memory", "64m", "busybox", "sleep", "60")
    table = ok(hakod, "stats", "--no-stream", name).splitlines()
    theirs = out(docker(hakod, docker_cli, "stats", "--no-stream", name)).splitlines()
    assert table[0].split() == theirs[0].split()  # the same headers
    assert table[1].split()[1] == name and "/ 64MiB" in table[1]
    doc = json.loads(ok(hakod, "stats", "--no-stream", "--format", "json", name))
    assert set(doc) == {"BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name",
                        "NetIO", "PIDs"}
    assert doc["Name"] == name and doc["PIDs"] == "1"
    assert ok(hakod, "stats", "--no-stream", "--format", "{{.Name}}") .split().count(name) == 1


def test_stats_streams_until_interrupted(hakod, name):
    ok(hakod, "run", "-d", "--name", name, "busybox", "sleep", "60")
    proc = subprocess.Popen(["hako", "stats", "--format", "{{.Name}} {{.PIDs}}", name],
                            stdout=subprocess.PIPE, env=hakod.env)
    try:
        lines = [proc.stdout.readline().decode() for _ in range(2)]  # two refreshes
        assert lines == [f"{name} 1\n"] * 2
    finally:
        proc.kill()
        proc.wait(10)


def test_update_then_inspect(hakod, docker_cli, name):
    ok(hakod, "run", "-d", "--name", name, "busybox", "sleep", "60")
    assert ok(hakod, "update", "--memory", "96m", "--memory-swap", "-1", "--pids-limit", "40",
              "--restart", "on-failure:2", name) == f"{name}\n"
    hc = json.loads(ok(hakod, "inspect", "-f", "{{json .HostConfig}}", name))
    assert (hc["Memory"], hc["PidsLimit"], hc["RestartPolicy"]) == \
        (96 * 1024 * 1024, 40, {"Name": "on-failure", "MaximumRetryCount": 2})
    res = hako(hakod, "update", "--blkio-weight", "300", name)  # refused by hakod, as a 400
    ref = docker(hakod, docker_cli, "update", "--blkio-weight", "300", name)
    assert (res.returncode, res.stderr) == (ref.returncode, ref.stderr)


def test_annotation_flag_is_refused_as_docker_does_and_the_field_honoured(hakod, docker_cli, name):
    """``--annotation`` needs API 1.43: against hakod's 1.41 hako refuses it with the docker
    CLI's text and status; HostConfig.Annotations sent through the API reaches inspect and
    the OCI spec (hakod honours the field rather than ignore it)."""
    import glob

    res = hako(hakod, "run", "--rm", "--annotation", "a=b", "busybox", "true")
    ref = docker(hakod, docker_cli, "run", "--rm", "--annotation", "a=b", "busybox", "true")
    assert (res.returncode, res.stderr) == (ref.returncode, ref.stderr) == (
        1, b'"--annotation" requires API version 1.43, but the Docker daemon API version is 1.41\n')
    want = {"com.example.a": "1", "com.example.b": "x=y"}
    status, body = hakod.api("POST", "/containers/create", query={"name": name}, body={
        "Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"Annotations": want}})
    assert status == 201, body
    cid = body["Id"]
    ok(hakod, "start", name)
    assert json.loads(ok(hakod, "inspect", "--format", "{{json .HostConfig.Annotations}}", name)) == want
    [spec] = glob.glob(os.path.join(hakod.root, "**", cid, "config.json"), recursive=True)
    with open(spec) as f:
        assert json.load(f)["annotations"] == want
    status, body = hakod.api("POST", "/containers/create", body={
        "Image": "busybox", "HostConfig": {"Annotations": {"": "a"}}})
    assert status == 400 and body["message"] == (
        "invalid Annotations: the empty string is not permitted as an annotation key"), body


def test_container_prune_removes_only_stopped(hakod, name):
    ok(hakod, "create", "--name", name, "--label", f"prunetest={name}", "busybox", "true")
    live = name + "-live"
    ok(hakod, "run", "-d", "--name", live, "--label", f"prunetest={name}", "busybox", "sleep",
       "60")
    try:
        res = hako(hakod, "container", "prune", input=b"n\n")
        assert out(res) == ("WARNING! This will remove all stopped containers.\n"
                            "Are you sure you want to continue? [y/N] ")
        cid = ok(hakod, "inspect", "-f", "{{.Id}}", name).strip()
        # the label keeps the test to its own containers on the shared daemon
        text = ok(hakod, "container", "prune", "-f", "--filter", f"label=prunetest={name}")
        assert f"Deleted Containers:\n" in text and cid in text
        assert text.splitlines()[-1].startswith("Total reclaimed space: ")
        assert hako(hakod, "inspect", name).returncode == 1
        assert ok(hakod, "inspect", "-f", "{{.State.Running}}", live) == "true\n"
    finally:
        hako(hakod, "rm", "-f", live)


def test_builder_prune_and_system_df(hakod, docker_cli):
    assert ok(hakod, "builder", "prune", "-f") == "Total reclaimed space: 0B\n"
    mine = ok(hakod, "system", "df", "--format", "{{.Type}}").split("\n")
    assert mine[:4] == ["Images", "Containers", "Local Volumes", "Build Cache"]


def test_info_id_is_a_persistent_engine_id(hakod, docker_cli):
    first = ok(hakod, "info", "--format", "{{.ID}}").strip()
    assert str(uuid.UUID(first)) == first
    assert out(docker(hakod, docker_cli, "info", "--format", "{{.ID}}")).strip() == first
    with open(os.path.join(hakod.data_root, "engine-id")) as f:
        assert f.read() == first


def test_contexts_shared_with_docker_and_honoured(hakod, docker_cli, tmp_path):
    env = dict(hakod.env, DOCKER_CONFIG=str(tmp_path))
    env.pop("DOCKER_HOST")
    env.pop("HAKO_HOST")
    res = hako(hakod, "context", "create", "box", "--description", "the test daemon",
               "--docker", f"host={hakod.host}", env=env)
    assert (res.returncode, out(res), res.stderr) == (0, "box\n",
                                                      b'Successfully created context "box"\n')
    mine = [json.loads(x) for x in ok(hakod, "context", "ls", "--format", "json",
                                        env=env).splitlines()]
    theirs = [json.loads(x) for x in subprocess.run(
        [docker_cli, "context", "ls", "--format", "json"], capture_output=True, env=env,
        text=True, timeout=30).stdout.splitlines()]
    for row in mine + theirs:  # each CLI's default endpoint is its own daemon's socket
        if row["Name"] == "default":
            row["DockerEndpoint"] = "<default>"
    assert mine == theirs and [r["Name"] for r in mine] == ["box", "default"]
    # the daemon is reachable only through the context
    assert hako(hakod, "ps", env=env).returncode == 1
    assert "CONTAINER ID" in ok(hakod, "--context", "box", "ps", env=env)
    assert "CONTAINER ID" in ok(hakod, "ps", env=dict(env, DOCKER_CONTEXT="box"))
    assert ok(hakod, "context", "use", "box", env=env) == "box\n"
    assert "CONTAINER ID" in ok(hakod, "ps", env=env)
    assert ok(hakod, "context", "show", env=env) == "box\n"
    assert subprocess.run([docker_cli, "context", "show"], env=env, capture_output=True,
                          text=True).stdout == "box\n"
    doc = json.loads(ok(hakod, "context", "inspect", env=env))
    assert doc[0]["Endpoints"]["docker"]["Host"] == hakod.host
    res = hako(hakod, "context", "rm", "box", env=env)
    assert (res.returncode, res.stderr) == \
        (1, b'context "box" is in use, set -f flag to force remove\n')
    assert ok(hakod, "context", "rm", "-f", "box", env=env) == "box\n"
    assert ok(hakod, "context", "show", env=env) == "default\n"


def test_tls_client_flags_and_cert_path(fresh_hakod, tmp_path):
    from tests.integration.daemon.test_tls import _free_port, make_certs

    certs = str(tmp_path)
    make_certs(certs)
    port = _free_port()
    d = fresh_hakod()
    d.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
                    f"{certs}/ca.pem", "--tlscert", f"{certs}/server-cert.pem", "--tlskey",
                    f"{certs}/server-key.pem")
    d.start()
    env = {k: v for k, v in d.env.items() if k not in ("DOCKER_HOST", "HAKO_HOST")}
    host = f"tcp://127.0.0.1:{port}"
    tls = ["--tlsverify", "--tlscacert", f"{certs}/ca.pem", "--tlscert",
           f"{certs}/client-cert.pem", "--tlskey", f"{certs}/client-key.pem"]
    res = hako(d, "-H", host, *tls, "version", "--format", "{{.Server.APIVersion}}", env=env)
    assert (res.returncode, out(res)) == (0, "1.41\n"), res.stderr
    assert hako(d, "-H", host, "--tlsverify", "--tlscacert", f"{certs}/ca.pem", "version",
                env=env).returncode != 0  # no client certificate: refused
    cert_dir = tmp_path / "client"
    cert_dir.mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"),
                     ("client-key.pem", "key.pem")):
        shutil.copy(os.path.join(certs, src), cert_dir / dst)
    env = dict(env, DOCKER_HOST=host, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(cert_dir))
    subprocess.run(["hako", "image", "bootstrap", "busybox"], env=env, check=True,
                   capture_output=True, timeout=120)
    res = hako(d, "run", "--rm", "busybox", "echo", "over tls", env=env)  # attach: hijacked TLS
    assert (res.returncode, out(res)) == (0, "over tls\n"), res.stderr


def test_events_format_and_window(hakod, name):
    since = str(int(time.time()) - 1)
    ok(hakod, "create", "--name", name, "busybox", "true")
    until = str(int(time.time()) + 1)
    lines = poll(lambda: ok(hakod, "events", "--since", since, "--until", until, "--filter",
                            f"container={name}", "--format", "{{.Type}} {{.Action}}"))
    assert "container create" in lines.splitlines()
    doc = json.loads(ok(hakod, "events", "--since", since, "--until", until, "--filter",
                        f"container={name}", "--format", "json").splitlines()[0])
    assert doc["Actor"]["Attributes"]["name"] == name


def test_bootstrapped_busybox_runs_bin_applets_as_entrypoint(hakod, tmp_path):
    tag = f"hako-bb-{uuid.uuid4().hex[:6]}:latest"
    ok(hakod, "image", "bootstrap", "busybox", "--tag", tag, timeout=120)
    try:
        (tmp_path / "Dockerfile").write_text(f'FROM {tag}\nENTRYPOINT ["/bin/wc"]\n'
                                             'CMD ["-l", "/etc/passwd"]\n')
        ok(hakod, "build", "-q", "-t", tag + "-wc", str(tmp_path), timeout=120)
        assert ok(hakod, "run", "--rm", tag + "-wc") == "9 /etc/passwd\n"
        got = ok(hakod, "run", "--rm", "-u", "www-data", tag, "sh", "-c",
                 "id; ls /; ls -ld /var/www | cut -d' ' -f1")
        assert got.splitlines() == ["uid=33(www-data) gid=33(www-data)", "bin", "dev", "etc",
                                    "home", "proc", "root", "sys", "tmp", "usr", "var",
                                    "drwxr-xr-x"]
    finally:
        hako(hakod, "rmi", "-f", tag + "-wc", tag)


@pytest.mark.parametrize("args", [
    ("network", "create", "--ipam-driver", "foo", "hako-refused-net"),
    ("network", "create", "--config-only", "hako-refused-net"),
    ("network", "create", "--ipam-opt", "a=b", "hako-refused-net"),
    ("run", "--rm", "--kernel-memory", "64m", "busybox", "true"),
    ("run", "--rm", "--cpu-rt-runtime", "100", "busybox", "true"),
    ("run", "--rm", "--storage-opt", "size=1G", "busybox", "true"),
    ("build", "--isolation", "hyperv", "{ctx}"),
    ("build", "--pull", "{ctx}"),
], ids=" ".join)
def test_flags_hakod_refuses_are_sent_as_docker_sends_them(hakod, docker_cli, tmp_path, args):
    """Each flag reaches hakod, which refuses it naming the field, for both clients alike."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    args = [a.replace("{ctx}", str(tmp_path)) for a in args]
    mine, theirs = hako(hakod, *args), docker(hakod, docker_cli, *args)
    hako(hakod, "network", "rm", "hako-refused-net")
    err = mine.stderr.decode()
    assert mine.returncode == theirs.returncode != 0
    assert "is not supported yet" in err or "not found" in err, err
    assert normalise(err) == normalise(theirs.stderr.decode())
