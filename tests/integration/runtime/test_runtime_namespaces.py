"""Namespaces joined by path, wrong namespace types, unknown capabilities and security
labels the host cannot apply: hako-runtime against runc (the oracle). Bad input is one
line on stderr and exit 1, never a traceback."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def _one_line_failure(out) -> None:
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1, out.stderr


def test_uts_namespace_joined_by_path_keeps_the_other_hostname(rt):
    rt.spec["hostname"] = "first-one"
    first = rt.create_started("sleep", "100")
    pid = rt.state(first)["pid"]
    del rt.spec["hostname"]
    rt.spec["linux"]["namespaces"] = [
        dict(n, path=f"/proc/{pid}/ns/uts") if n["type"] == "uts" else n
        for n in rt.spec["linux"]["namespaces"]]
    out = rt.run("hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "first-one"


def test_namespace_path_of_the_wrong_type_is_refused(rt):
    rt.spec["linux"]["namespaces"] = [
        dict(n, path="/proc/self/ns/net") if n["type"] == "pid" else n
        for n in rt.spec["linux"]["namespaces"]]
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    if rt.name == "runc":  # runc fails too, in several log lines of its own
        assert out.returncode == 1
    else:
        _one_line_failure(out)
        assert "not pid" in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1


# runc 1.1 only warns ("ignoring unknown or unavailable capabilities"); hako fails closed
@pytest.mark.parametrize("rt", ["hako"], indirect=True)
def test_unknown_capability_is_refused(rt):
    caps = rt.spec["process"]["capabilities"]
    caps["bounding"] = list(caps["bounding"]) + ["CAP_NOT_A_CAP"]
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    _one_line_failure(out)
    assert "CAP_NOT_A_CAP" in out.stderr


@pytest.mark.skipif(os.path.exists("/sys/kernel/security/apparmor"),
                    reason="the host has AppArmor: this case is about hosts without it")
def test_apparmor_profile_without_apparmor_is_refused(rt):
    rt.spec["process"]["apparmorProfile"] = "some-profile"
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    _one_line_failure(out)
    assert "apparmor" in out.stderr.lower()
    assert rt.cmd("state", cid).returncode == 1
