"""apply_capabilities in a fresh process against the real kernel (/proc/self/status)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hako.runtime import capabilities as caps

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="requires root")]

_CHILD = r"""
import json, os, sys
from hako.linux import syscalls
from hako.runtime.capabilities import apply_capabilities
spec, uid = json.loads(sys.argv[1]), int(sys.argv[2])
if uid:
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
apply_capabilities(spec)
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print(json.dumps({k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}))
"""


def _run(spec, uid=0):
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec), str(uid)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_docker_default_set_as_root():
    default = list(caps.DEFAULT_CAPABILITIES)
    got = _run({"bounding": default, "effective": default, "permitted": default,
                "inheritable": [], "ambient": []})
    mask = caps.caps_to_mask(default)
    assert (got["CapBnd"], got["CapEff"], got["CapPrm"]) == (mask, mask, mask)
    assert got["CapInh"] == 0 and got["CapAmb"] == 0


def test_non_root_user_keeps_listed_caps_with_ambient():
    keep = ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
    got = _run({"bounding": keep, "effective": keep, "permitted": keep,
                "inheritable": keep, "ambient": ["CAP_NET_BIND_SERVICE"]}, uid=65534)
    mask = caps.caps_to_mask(keep)
    assert (got["CapBnd"], got["CapEff"], got["CapPrm"], got["CapInh"]) == (mask,) * 4
    assert got["CapAmb"] == 1 << caps.CAPABILITIES["CAP_NET_BIND_SERVICE"]


def test_empty_sets_drop_everything():
    got = _run({}, uid=65534)
    assert got == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}
