"""seccomp.docker_profile filtering (moby setupSeccomp rules), profile decoding, rule grouping
and the compiled-filter cache."""

from __future__ import annotations

import os

import pytest

from hako.errors import InvalidArgument
from hako.runtime import seccomp
from hako.runtime.capabilities import DEFAULT_CAPABILITIES, all_capabilities

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_GT"}]},
    ],
}


def _names(p):
    return [n for s in p["syscalls"] for n in s["names"]]


def test_filters_by_arch_caps_and_kernel():
    p = seccomp.docker_profile(PROFILE, ["CAP_CHOWN"], "amd64", kernel="6.1.0-18-amd64")
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert _names(p) == ["read", "arch_prctl", "clone3", "ptrace", "socket"]
    assert p["syscalls"][2]["errnoRet"] == 38
    assert p["syscalls"][-1]["args"] == [{"index": 0, "value": 40, "op": "SCMP_CMP_GT"}]


def test_sys_admin_and_other_arch_and_old_kernel():
    p = seccomp.docker_profile(PROFILE, ["CAP_SYS_ADMIN"], "arm64", kernel="4.4.0")
    assert p["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert _names(p) == ["read", "mount", "old", "socket"]


def test_default_profile():
    p = seccomp.default_profile(DEFAULT_CAPABILITIES, "amd64", kernel="6.1")
    names = _names(p)
    assert "mount" not in names and "arch_prctl" in names and "chroot" in names
    assert any(s["names"] == ["clone3"] and s.get("errnoRet") == 38 for s in p["syscalls"])
    full = _names(seccomp.default_profile(all_capabilities(40), "amd64", kernel="6.1"))
    assert "mount" in full and "bpf" in full


def test_action_values():
    assert seccomp.action_value("SCMP_ACT_ALLOW") == 0x7FFF0000
    assert seccomp.action_value("SCMP_ACT_ERRNO", 38) == 0x00050026
    assert seccomp.action_value("SCMP_ACT_ERRNO") == 0x00050001
    with pytest.raises(InvalidArgument):
        seccomp.action_value("SCMP_ACT_BOGUS")


def test_rule_grouping_like_runc():
    assert seccomp.rule_conditions(None) == [[]]
    two = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]
    assert seccomp.rule_conditions(two) == [[(0, 4, 1, 0), (1, 4, 2, 0)]]
    same = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]
    assert seccomp.rule_conditions(same) == [[(0, 4, 1, 0)], [(0, 4, 2, 0)]]


def test_docker_profile_edge_cases():
    assert seccomp.docker_profile({}, [], "amd64") is None  # Docker: unconfined
    with pytest.raises(InvalidArgument, match="use either 'architectures' or 'archMap'"):
        seccomp.docker_profile({**PROFILE, "architectures": ["SCMP_ARCH_X86_64"]}, [], "amd64")
    with pytest.raises(InvalidArgument, match="use either 'name' or 'names'"):
        seccomp.docker_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"name": "mkdir", "names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}, [], "amd64")
    one = seccomp.docker_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"name": "mkdir", "action": "SCMP_ACT_ERRNO"}]}, [], "amd64")
    assert one == {"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    with pytest.raises(InvalidArgument, match="unknown seccomp action"):
        seccomp.docker_profile({"defaultAction": "SCMP_ACT_NOPE"}, [], "amd64")


@pytest.mark.parametrize("text,message", [
    ("bad json", "Decoding seccomp profile failed: invalid character 'b' looking for beginning of value"),
    ("", "Decoding seccomp profile failed: unexpected end of JSON input"),
    ("[]", "Decoding seccomp profile failed: json: cannot unmarshal array into Go value of type seccomp.Seccomp"),
    ('{"defaultAction": 1}', "Decoding seccomp profile failed: json: cannot unmarshal number into Go struct field Seccomp.defaultAction of type string"),
])
def test_parse_profile_errors(text, message):
    with pytest.raises(InvalidArgument) as err:
        seccomp.parse_profile(text)
    assert str(err.value) == message


def test_cached_bpf_compiles_once(tmp_path, monkeypatch):
    prof = seccomp.default_profile(DEFAULT_CAPABILITIES, "amd64", kernel="6.1")
    calls = []
    monkeypatch.setattr(seccomp, "compile_bpf", lambda p: calls.append(p) or b"\0" * 16)
    cache = str(tmp_path / "cache")
    assert seccomp.cached_bpf(prof, DEFAULT_CAPABILITIES, cache) == b"\0" * 16
    assert seccomp.cached_bpf(prof, DEFAULT_CAPABILITIES, cache) == b"\0" * 16
    assert len(calls) == 1
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    seccomp.cached_bpf(prof, [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], cache)  # other caps
    assert len(calls) == 2 and len(os.listdir(cache)) == 2


def test_cached_bpf_distrusts_a_loose_cache_dir(tmp_path, monkeypatch):
    prof = {"defaultAction": "SCMP_ACT_ALLOW"}
    monkeypatch.setattr(seccomp, "compile_bpf", lambda p: b"\1" * 8)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    (cache / (seccomp.cache_key(prof, []) + ".bpf")).write_bytes(b"\0" * 8)
    assert seccomp.cached_bpf(prof, [], str(cache)) == b"\1" * 8
