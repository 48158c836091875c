"""The seed's CMD/ENTRYPOINT table, built with the real docker CLI's legacy builder
(``DOCKER_BUILDKIT=0 docker build``) against hakod and run with and without arguments.

Expected outputs follow Docker's documented behaviour: ``docker run`` arguments replace
CMD; a shell-form ENTRYPOINT ignores both CMD and the arguments; an exec-form ENTRYPOINT
gets the arguments (or CMD) appended.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

pytestmark = pytest.mark.integration

# name: (Dockerfile body after FROM, [(run args, exit code, stdout, stderr fragment)])
TABLE = {
    "cmd-shell-noarg": ("CMD pwd", [
        ([], 0, "/\n", ""),
        (["echo", "over"], 0, "over\n", ""),
    ]),
    "entrypoint-shell-noarg": ("ENTRYPOINT pwd", [
        ([], 0, "/\n", ""),
        (["echo", "over"], 0, "/\n", ""),
    ]),
    "cmd-shell-args": ("CMD ls -d /bin /etc", [
        ([], 0, "/bin\n/etc\n", ""),
        (["ls", "-d", "/proc"], 0, "/proc\n", ""),
    ]),
    "entrypoint-shell-args": ("ENTRYPOINT ls -d /bin /etc", [
        ([], 0, "/bin\n/etc\n", ""),
        (["ls", "-d", "/proc"], 0, "/bin\n/etc\n", ""),
    ]),
    "cmd-exec": ('CMD ["ls", "-d", "/bin"]', [
        ([], 0, "/bin\n", ""),
        (["ls", "-d", "/etc"], 0, "/etc\n", ""),
    ]),
    "entrypoint-exec": ('ENTRYPOINT ["ls", "-d"]', [
        ([], 0, ".\n", ""),
        (["ls", "-l"], 1, "", "ls: ls: No such file or directory"),
        (["ps"], 1, "", "ls: ps: No such file or directory"),
        (["/bin"], 0, "/bin\n", ""),
    ]),
    "entrypoint-exec-cmd-params": ('ENTRYPOINT ["echo", "e"]\nCMD ["-n", "default"]', [
        ([], 0, "e -n default\n", ""),
        (["given"], 0, "e given\n", ""),
    ]),
    "entrypoint-exec-cmd-shell": ('ENTRYPOINT ["echo"]\nCMD echo c', [
        ([], 0, "/bin/sh -c echo c\n", ""),
        (["x"], 0, "x\n", ""),
    ]),
    "entrypoint-shell-cmd-exec": ('ENTRYPOINT echo e\nCMD ["c"]', [
        ([], 0, "e\n", ""),
        (["x"], 0, "e\n", ""),
    ]),
    "cmd-then-entrypoint-resets-inherited": ('CMD ["x"]\nENTRYPOINT ["echo"]', [
        ([], 0, "x\n", ""),
    ]),
    "wc-stdin-entrypoint": ('ENTRYPOINT ["/bin/wc"]\nCMD ["-l"]', [
        ([], 0, "0\n", ""),
        (["-c"], 0, "0\n", ""),
    ]),
    "seed-sample": ('MAINTAINER hoge\nRUN echo built > /built\nCMD echo "This is a test container OK."', [
        ([], 0, "This is a test container OK.\n", ""),
        (["cat", "/built"], 0, "built\n", ""),
    ]),
}


def _docker(d, cli, *args, timeout=120):
    env = dict(d.env, DOCKER_BUILDKIT="0")
    return subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def table_images(hakod, docker_cli):
    """Build every row once; remove the images afterwards."""
    built = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name, (body, _) in TABLE.items():
                ctx = os.path.join(tmp, name)
                os.makedirs(ctx)
                with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                    f.write(f"FROM busybox\n{body}\n")
                tag = f"table-{name}-{os.getpid()}"
                res = _docker(hakod, docker_cli, "build", "-t", tag, ctx)
                assert res.returncode == 0, res.stdout + res.stderr
                assert f"Successfully tagged {tag}:latest" in res.stdout
                built[name] = tag
            yield built
        finally:
            for tag in built.values():
                _docker(hakod, docker_cli, "rmi", "-f", tag)


CASES = [(name, i) for name, (_, runs) in TABLE.items() for i in range(len(runs))]


@pytest.mark.parametrize("name,index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_row(hakod, docker_cli, table_images, name, index):
    args, code, stdout, stderr = TABLE[name][1][index]
    res = _docker(hakod, docker_cli, "run", "--rm", table_images[name], *args)
    assert res.returncode == code, res.stdout + res.stderr
    assert res.stdout == stdout
    assert stderr in res.stderr
