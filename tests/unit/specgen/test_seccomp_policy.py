"""hako's own default seccomp policy allows exactly what Docker's default profile allows.

The oracle is Docker's profile (moby profiles/seccomp/default.json), kept outside the package
in the shared specs folder beside the checkout (``<checkout>/../shared/specs``). Docker's
profile is evaluated here by an independent reading of moby's setupSeccomp (below), and the
EFFECTIVE rules are compared: per architecture, capability set and kernel, the set of
(syscall, action, errno, argument conditions) that a runtime would install, plus the default
action and the architecture list. Neither the order of entries nor how they are grouped
matters; what the filter does does.
"""

from __future__ import annotations

import json
import os

import pytest

from hako.runtime import seccomp_policy
from hako.runtime.capabilities import DEFAULT_CAPABILITIES, all_capabilities

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ORACLE = os.path.join(os.path.dirname(REPO), "shared", "specs", "seccomp-default.json")

# moby's nativeToSeccomp (profiles/seccomp/seccomp_linux.go)
NATIVE = {"x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "arm": "SCMP_ARCH_ARM",
          "arm64": "SCMP_ARCH_AARCH64", "mips64": "SCMP_ARCH_MIPS64",
          "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
          "mips3l64n32": "SCMP_ARCH_MIPSEL64N32", "mipsle": "SCMP_ARCH_MIPSEL",
          "ppc": "SCMP_ARCH_PPC", "ppc64": "SCMP_ARCH_PPC64", "ppc64le": "SCMP_ARCH_PPC64LE",
          "riscv64": "SCMP_ARCH_RISCV64", "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X",
          "loong64": "SCMP_ARCH_LOONGARCH64"}
KERNELS = ("4.4.0", "4.8.0", "5.10.0", "6.1.0-18-amd64")


@pytest.fixture(scope="module")
def docker():
    assert os.path.exists(ORACLE), (
        f"Docker's profile is expected beside the checkout at {ORACLE} (shared/specs)")
    with open(ORACLE, encoding="utf-8") as fh:
        return json.load(fh)


def _kernel(text):
    major, minor = text.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def docker_effective(profile, caps, arch, kernel):
    """moby setupSeccomp, then what runc installs: (default, arches, rules)."""
    caps, kver = set(caps), _kernel(kernel)
    arches = []
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == NATIVE.get(arch):
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]
            break
    entries = []
    for call in profile["syscalls"]:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if arch in (exc.get("arches") or []) or any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kver >= _kernel(exc["minKernel"]):
            continue
        if (inc.get("arches") and arch not in inc["arches"]) \
                or any(c not in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and kver < _kernel(inc["minKernel"]):
            continue
        entries.append(call)
    default = (profile["defaultAction"], profile.get("defaultErrnoRet"))
    return default, arches, _rules(entries, default)


def _rules(entries, default):
    rules = set()
    for call in entries:
        action = (call["action"], call.get("errnoRet") if call["action"] == "SCMP_ACT_ERRNO"
                  else None)
        if action == default:
            continue  # runc skips rules whose action is the default one
        args = tuple(sorted((a["index"], a["op"], a.get("value", 0), a.get("valueTwo", 0))
                            for a in call.get("args") or []))
        for name in call["names"]:
            rules.add((name, action, args))
    return frozenset(rules)


def hako_effective(caps, arch, kernel):
    p = seccomp_policy.generate(caps, arch, kernel)
    default = (p["defaultAction"], p.get("defaultErrnoRet"))
    return default, list(p.get("architectures") or []), _rules(p["syscalls"], default)


def _relevant_caps(profile):
    caps = set()
    for call in profile["syscalls"]:
        for cond in (call.get("includes") or {}, call.get("excludes") or {}):
            caps.update(cond.get("caps") or [])
    return sorted(caps)


def _cap_sets(profile):
    every = all_capabilities(40)
    sets = {"none": [], "default": list(DEFAULT_CAPABILITIES), "all": every}
    for cap in _relevant_caps(profile):
        sets[f"only {cap}"] = [cap]
        sets[f"default + {cap}"] = sorted(set(DEFAULT_CAPABILITIES) | {cap})
        sets[f"default - {cap}"] = sorted(set(DEFAULT_CAPABILITIES) - {cap})
        sets[f"all - {cap}"] = sorted(set(every) - {cap})
    return sets


def _arches(profile):
    arches = set(NATIVE)
    for call in profile["syscalls"]:
        for cond in (call.get("includes") or {}, call.get("excludes") or {}):
            arches.update(cond.get("arches") or [])
    return sorted(arches)


def test_relevant_caps_are_the_ones_the_policy_knows(docker):
    ours = {g.cap for g in seccomp_policy.GROUPS if g.cap} | \
        {g.without_cap for g in seccomp_policy.GROUPS if g.without_cap}
    assert ours == set(_relevant_caps(docker))
    assert "CAP_SYS_ADMIN" in ours and len(ours) >= 10


def test_effective_rules_match_docker_for_every_cap_set_arch_and_kernel(docker):
    mismatches = []
    checked = 0
    for label, caps in _cap_sets(docker).items():
        for arch in _arches(docker):
            for kernel in KERNELS:
                want = docker_effective(docker, caps, arch, kernel)
                got = hako_effective(caps, arch, kernel)
                checked += 1
                if got != want:
                    extra = sorted(got[2] - want[2])[:5]
                    missing = sorted(want[2] - got[2])[:5]
                    mismatches.append((label, arch, kernel, got[:2], want[:2], extra, missing))
    assert not mismatches, mismatches[:5]
    assert checked > 1000


def test_default_container_on_amd64_facts():
    _, _, rules = hako_effective(DEFAULT_CAPABILITIES, "amd64", "6.1.0")
    names = {r[0] for r in rules}
    assert {"read", "chroot", "arch_prctl", "ptrace", "socket", "clone"} <= names
    assert not {"mount", "unshare", "setns", "bpf", "reboot", "kexec_load"} & names
    assert ("clone3", ("SCMP_ACT_ERRNO", 38), ()) in rules
    clone = [r for r in rules if r[0] == "clone"]
    assert clone == [("clone", ("SCMP_ACT_ALLOW", None),
                      ((0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),))]


def test_digest_is_stable_and_names_the_data():
    assert seccomp_policy.digest() == seccomp_policy.digest()
    assert len(seccomp_policy.digest()) == 64


def test_oracle_not_shipped_in_the_package():
    pkg = os.path.join(REPO, "hako")
    for root, _dirs, files in os.walk(pkg):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(root, name), "rb") as fh:
                    assert b"SCMP_ARCH_X86_64" not in fh.read(), name
