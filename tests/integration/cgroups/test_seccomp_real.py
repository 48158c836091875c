"""load_filter with Docker's default profile in a fresh process against the real kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hako.runtime import seccomp
from hako.runtime.capabilities import DEFAULT_CAPABILITIES, all_capabilities

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="requires root"),
    pytest.mark.skipif(not os.path.exists("/usr/lib/x86_64-linux-gnu/libseccomp.so.2")
                       and not os.path.exists("/lib/x86_64-linux-gnu/libseccomp.so.2"),
                       reason="requires libseccomp2"),
]

_CHILD = r"""
import ctypes, json, os, subprocess, sys
from hako.runtime.seccomp import load_filter
load_filter(json.loads(sys.argv[1]))
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.unshare(0x04000000)  # CLONE_NEWUTS: needs CAP_SYS_ADMIN in Docker's profile
unshare = "ok" if rc == 0 else os.strerror(ctypes.get_errno())
child = subprocess.run(["true"]).returncode  # clone3 → ENOSYS, glibc falls back to clone
print(json.dumps({"unshare": unshare, "child": child, "pid": os.getpid() > 0}))
"""


def _run(profile):
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(profile)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_default_profile_blocks_unshare_but_runs_programs():
    got = _run(seccomp.default_profile(DEFAULT_CAPABILITIES))
    assert got == {"unshare": "Operation not permitted", "child": 0, "pid": True}


def test_sys_admin_profile_allows_unshare():
    got = _run(seccomp.default_profile(all_capabilities()))
    assert got["unshare"] == "ok" and got["child"] == 0
