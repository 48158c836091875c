"""``hako`` against the docker CLI itself: the same flags in every command's help, and the
same message and exit status for bad input.

The flag comparison reads ``docker X --help`` live (the docker CLI at /usr/local/bin/docker)
for every docker command hakod serves, and ``hako X --help`` through the CLI's entry point;
every docker flag must be in hako's help unless ABSENT says why it is not. The bad-input
table runs both CLIs against the session's hakod and compares stderr (``docker`` read as
``hako``) and the exit status.
"""

from __future__ import annotations

import io
import re
import subprocess

import pytest

from hako.cli.main import Context, run_cli
from tests.daemon_harness import docker

# docker management groups hakod serves (swarm, plugin, trust, manifest, checkpoint: no)
GROUPS = ("builder", "container", "context", "image", "network", "system", "volume")
SWARM = "swarm-only (hako has no swarm mode)"
NEW_API = "API >= 1.48 (hakod serves 1.41, where the docker CLI refuses it too)"
ABSENT_COMMANDS = {
    "context export": "contexts are not exported or imported as archives",
    "context import": "contexts are not exported or imported as archives",
    "volume update": "cluster volumes only (" + SWARM + ")",
}
ABSENT = {
    **{(c, "--gpus"): "GPU device requests need a GPU runtime hook (nvidia-container-toolkit); "
       "hakod refuses HostConfig.DeviceRequests" for c in ("container run", "container create", "run", "create")},
    **{(c, "--use-api-socket"): "docker 28 client feature (bind-mounts the engine socket and "
       "injects credentials), not part of the Engine API" for c in
       ("container run", "container create", "run", "create")},
    **{(c, f): "checkpoint/restore (CRIU) is not implemented"
       for c in ("container start", "start") for f in ("--checkpoint", "--checkpoint-dir")},
    **{(c, f): r for c in ("builder build", "image build", "build") for f, r in (
        ("--compress", "the context is sent as a plain tar over a local socket"),
        ("--security-opt", "Windows credential specs only; the legacy builder ignores it"))},
    **{(c, "--platform"): NEW_API for c in ("image history", "image inspect", "image load",
                                            "image push", "image rm", "image save", "history",
                                            "load", "push", "rmi", "save")},
    ("network connect", "--gw-priority"): NEW_API,
    ("network create", "--ipv4"): NEW_API,
    ("network inspect", "--verbose"): SWARM,
    **{("volume create", f): "cluster volumes only (" + SWARM + ")" for f in (
        "--availability", "--group", "--limit-bytes", "--required-bytes", "--scope", "--secret",
        "--sharing", "--topology-preferred", "--topology-required", "--type")},
    ("volume ls", "--cluster"): "cluster volumes only (" + SWARM + ")",
}
FLAG = re.compile(r"^  (?:(-\w), )?\s*(--[\w-]+)")


def docker_help(cli: str, *args: str) -> str:
    res = subprocess.run([cli, *args, "--help"], capture_output=True, text=True, timeout=30,
                         env={"HOME": "/root", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    return res.stdout


def hako_help(*args: str) -> tuple[int, str]:
    ctx = Context("", {}, stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    code = run_cli([*args, "--help"], environ={}, ctx=ctx)
    return code, ctx.stdout.getvalue()


def section(text: str, title: str) -> list[str]:
    out, inside = [], False
    for line in text.splitlines():
        if line == f"{title}:":
            inside = True
        elif inside and line and not line.startswith(" "):
            break
        elif inside and line.strip():
            out.append(line)
    return out


def flags(text: str) -> dict[str, str]:
    """--long → -s (or "") from an Options section."""
    return {m.group(2): m.group(1) or "" for m in map(FLAG.match, section(text, "Options")) if m}


def docker_commands(cli: str) -> list[str]:
    top = docker_help(cli)
    names = [line.split()[0] for t in ("Common Commands", "Commands") for line in section(top, t)]
    for group in GROUPS:
        names += [f"{group} {line.split()[0]}" for line in section(docker_help(cli, group),
                                                                  "Commands")]
    return names


def test_every_served_docker_command_has_docker_flags(docker_cli):
    missing, stale = [], []
    for command in docker_commands(docker_cli):
        words = command.split()
        if command in ABSENT_COMMANDS:
            assert hako_help(*words)[0] != 0, f"{command} exists now: drop it from ABSENT"
            continue
        code, text = hako_help(*words)
        assert code == 0, f"hako {command} --help failed: {text}"
        assert text.startswith(f"Usage:  hako {command}") or command in ("images", "ps"), text
        want, have = flags(docker_help(docker_cli, *words)), flags(text)
        for name, short in want.items():
            if name == "--help":
                continue
            if (command, name) in ABSENT:
                if name in have:
                    stale.append((command, name))
            elif name not in have:
                missing.append((command, name))
            elif have[name] != short:
                missing.append((command, f"{name} shorthand {short!r} != {have[name]!r}"))
    assert not missing, f"docker flags hako lacks: {missing}"
    assert not stale, f"listed as absent but present now: {stale}"


def test_absent_entries_name_a_reason():
    assert all(reason for reason in list(ABSENT.values()) + list(ABSENT_COMMANDS.values()))


def test_root_help_lists_what_docker_lists(docker_cli):
    top = docker_help(docker_cli)
    _, mine = hako_help()
    for title in ("Common Commands", "Management Commands", "Commands", "Global Options"):
        assert section(mine, title), title
    served = {line.split()[0] for t in ("Common Commands", "Commands") for line in section(top, t)}
    listed = {line.split()[0] for t in ("Common Commands", "Commands")
              for line in section(mine, t)}
    assert served <= listed
    assert set(flags(top.replace("Global Options:", "Options:"))) == \
        set(flags(mine.replace("Global Options:", "Options:")))


# -- bad input: docker's message and exit status --------------------------------------------

BAD_INPUT = [
    ("ps", "--bogus"), ("ps", "-Z"), ("--bogus", "ps"), ("run", "--bogus", "busybox"),
    ("stats", "--no-stream", "--bogus"), ("ps", "-n", "x"), ("ps", "extra"), ("rm",),
    ("nosuch",), ("container", "nosuch"), ("update", "nosuchcontainer"),
    ("ps", "--format", "{{.Foo"), ("ps", "--format", "{{.Foo}}"), ("ps", "-a", "--format", "{{.Foo}}"),
    ("images", "--format", "{{.Foo"), ("images", "--format", "{{.Foo}}"),
    ("inspect", "--format", "{{.Foo", "busybox"), ("inspect", "--format", "{{.Foo}}", "busybox"),
    ("network", "ls", "--format", "{{.Foo"), ("volume", "ls", "--format", "{{.Foo"),
    ("context", "ls", "--format", "{{.Foo"), ("context", "ls", "--format", "{{.Foo}}"),
    ("system", "df", "--format", "{{.Foo"), ("history", "--format", "{{.Foo", "busybox"),
    ("info", "--format", "{{.Foo"), ("info", "--format", "{{.Foo}}"),
    ("events", "--until", "1s", "--format", "{{.Foo}}"),
    ("ps", "--filter", "foo=bar"), ("ps", "--filter", "foo"), ("images", "--filter", "foo=bar"),
    ("volume", "ls", "--filter", "foo=bar"), ("network", "ls", "--filter", "foo=bar"),
    ("image", "prune", "-f", "--filter", "foo=bar"), ("builder", "prune", "-f", "--filter", "foo=bar"),
    ("--context", "nope", "ps"), ("context", "use", "nope"), ("context", "inspect", "nope"),
    ("context", "rm", "nope"), ("context", "create", "default"), ("context", "create", "b@d"),
    ("-H", "unix:///x.sock", "--context", "x", "ps"),
]


def normalise(text: str) -> str:
    """docker's stderr read as hako's: the program name, no legacy-builder banner, and
    template errors up to Go's column and type names (hako's templates are not Go's)."""
    lines = [ln for ln in text.splitlines() if not ln.startswith(("DEPRECATED:", "      "))]
    text = "\n".join(lines).strip().replace("docker", "hako")
    text = re.sub(r"template: (\w*):(\d+):\d+:", r"template: \1:\2:", text)
    return re.sub(r"( executing \"[^\"]*\" at <[^>]*>): .*", r"\1", text)


@pytest.mark.integration
@pytest.mark.parametrize("args", BAD_INPUT, ids=" ".join)
def test_bad_input_gives_dockers_message_and_status(hakod, docker_cli, args):
    theirs = docker(hakod, docker_cli, *args)
    mine = docker(hakod, "hako", *args)
    assert (mine.returncode, normalise(mine.stderr.decode())) == \
        (theirs.returncode, normalise(theirs.stderr.decode()))
