"""Shell completion from the parsers (bash run for real) and the busybox rootfs layout."""

import io
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from hako.cli import bootstrap
from hako.cli.commands import completion


@pytest.fixture(scope="module")
def bash_script():
    """What ``hako completion bash`` prints (no daemon needed)."""
    res = subprocess.run([sys.executable, "-m", "hako.cli", "completion", "bash"],
                         capture_output=True, text=True, timeout=60, check=True)
    return res.stdout


def complete(script, words):
    cword = len(words) - 1
    quoted = " ".join("'" + w + "'" for w in words)
    prog = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={cword}; _hako; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    res = subprocess.run([shutil.which("bash"), "--norc", "--noprofile", "-c", prog],
                         capture_output=True,
                         text=True, env={"PATH": "/nonexistent"}, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_verbs_and_flags(bash_script):
    assert complete(bash_script, ["hako", "ru"]) == ["run"]
    assert complete(bash_script, ["hako", "context", "u"]) == ["update", "use"]
    assert complete(bash_script, ["hako", "stats", "--no-"]) == ["--no-stream", "--no-trunc"]
    assert "--format" in complete(bash_script, ["hako", "container", "ls", "--fo"])
    assert "--context" in complete(bash_script, ["hako", "--con"])


def test_zsh_script_has_the_same_tree():
    script = completion.zsh_script(completion.tree())
    assert script.startswith("#compdef hako") and '"stats" "--all --format --help' in script


BUSYBOX_OK = os.path.exists(bootstrap.BUSYBOX)


@pytest.mark.skipif(not BUSYBOX_OK, reason="busybox-static is not installed")
def test_busybox_rootfs_is_laid_out_as_docker_hubs():
    tar = tarfile.open(fileobj=io.BytesIO(bootstrap.busybox_tar()))
    names = set(tar.getnames())
    top = {n for n in names if "/" not in n}
    assert top == {"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var"}
    applets = subprocess.run([bootstrap.BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in set(applets) - {"busybox"}:  # every applet in /bin (ENTRYPOINT ["/bin/wc"] works)
        m = tar.getmember(f"bin/{applet}")
        assert m.islnk() and m.linkname == "bin/busybox", applet
    users = [line.split(":")[0] for line in bootstrap.PASSWD.splitlines()]
    assert users == ["root", "daemon", "bin", "sys", "sync", "mail", "www-data", "operator",
                     "nobody"]
    groups = [line.split(":")[0] for line in bootstrap.GROUP.splitlines()]
    assert {"root", "wheel", "users", "nobody", "www-data", "mail"} <= set(groups)
    assert tar.getmember("tmp").mode == 0o1777 and tar.getmember("root").mode == 0o700
    assert tar.getmember("var/www").uid == 33
    assert tar.getmember("usr/bin/env").linkname == "../../bin/env"
    shadow = tar.extractfile("etc/shadow").read().decode()
    assert shadow.startswith("root:*:") and tar.getmember("etc/shadow").mode == 0o600
