"""OCI runtime validation: every scenario of ``ocivalidate`` (our Go program over the OCI's
runtime-tools library, tests/conformance/ocivalidate/) against hako-runtime and runc, with
one TAP parser for both. hako-runtime must pass every check runc passes, except the known
differences below, each with its reason. The list is strict: a listed difference that no
longer shows fails the test, so it is removed when fixed.

The binary is built once per (runtime-tools package version, Go version, our source) into
``.cache/ocivalidate/`` (ignored by git).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent.parent
SOURCE = Path(__file__).resolve().parent / "ocivalidate"
GOPATH = "/usr/share/gocode"
RUNTIMES = {"hako": [sys.executable, "-m", "hako.runtime.cli"], "runc": ["runc"]}

# (scenario, check) → why hako-runtime does not pass a check runc passes. The check "*"
# stands for a whole scenario whose create hako-runtime refuses on purpose (runc's
# "create succeeds" must pass and ours fail, or the entry is stale).
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("unknown_capability", "*"):
        "runc 1.1 drops a capability name it does not know with a warning and runs the "
        "container with less than was asked; hako-runtime refuses it (fail closed)",
}


def _kmem_limits_ignored() -> bool:
    """Linux 5.16+ keeps memory.kmem.limit_in_bytes at "unlimited" whatever is written."""
    d = f"/sys/fs/cgroup/memory/hako-kmem-probe-{os.getpid()}"
    try:
        os.mkdir(d)
    except OSError:
        return False
    try:
        with open(f"{d}/memory.kmem.limit_in_bytes", "w") as f:
            f.write(str(64 << 20))
        with open(f"{d}/memory.kmem.limit_in_bytes") as f:
            return int(f.read()) != 64 << 20
    except OSError:
        return False
    finally:
        os.rmdir(d)


if _kmem_limits_ignored():
    KNOWN_DIFFERENCES[("cgroups_kernel_memory", "*")] = (
        "this kernel ignores kernel memory limits; runc 1.1 runs the container without one, "
        "hako-runtime refuses a limit that would not hold (fail closed)")


def _known(key: tuple[str, str]) -> bool:
    return key in KNOWN_DIFFERENCES or (key[0], "*") in KNOWN_DIFFERENCES


def _package_version(name: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True,
                         text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def build() -> str:
    """Path of the ocivalidate binary, built unless the cache has this exact one."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.glob("*.go")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    go = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout
    version = _package_version("golang-github-opencontainers-runtime-tools-dev")
    key = f"{version}-{hashlib.sha256(go.encode()).hexdigest()[:8]}-{digest.hexdigest()[:12]}"
    cache = REPO / ".cache" / "ocivalidate"
    binary = cache / key.replace("+", "_").replace("~", "_") / "ocivalidate"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(".tmp")
        env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, CGO_ENABLED="0",
                   GOCACHE=str(cache / "go-build"), GOFLAGS="")
        subprocess.run(["go", "build", "-o", str(tmp), "."], cwd=SOURCE, env=env, check=True)
        os.replace(tmp, binary)
        for old in cache.iterdir():  # binaries of other versions
            if old.is_dir() and old.name not in ("go-build", binary.parent.name):
                shutil.rmtree(old, ignore_errors=True)
    return str(binary)


def parse_tap(text: str) -> dict[str, bool]:
    """check description → passed (a SKIP passes); a bail-out is one failed check.
    A description met twice gets " #2" and so on, so keys are unique."""
    results: dict[str, bool] = {}
    for line in text.splitlines():
        if line.startswith("Bail out!"):
            results["bail out"] = False
            continue
        ok = line.startswith("ok ")
        if not ok and not line.startswith("not ok "):
            continue
        desc = line.split(" - ", 1)[1] if " - " in line else line
        desc = desc.split(" # SKIP", 1)[0]
        key, n = desc, 1
        while key in results:
            n += 1
            key = f"{desc} #{n}"
        results[key] = ok
    if not results:
        results["the scenario printed TAP"] = False
    return results


def run_all(binary: str) -> dict[str, dict[tuple[str, str], bool]]:
    """runtime → (scenario, check) → passed, every scenario of both runtimes in parallel."""
    names = subprocess.run([binary, "list"], capture_output=True, text=True,
                           check=True).stdout.split()

    def one(job):
        runtime, scenario = job
        out = subprocess.run([binary, "run", scenario, *RUNTIMES[runtime]], cwd=REPO,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=300)
        return runtime, scenario, parse_tap(out.stdout)

    results: dict[str, dict[tuple[str, str], bool]] = {name: {} for name in RUNTIMES}
    jobs = [(runtime, name) for name in names for runtime in RUNTIMES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for runtime, scenario, checks in pool.map(one, jobs):
            for desc, ok in checks.items():
                results[runtime][(scenario, desc)] = ok
    return results


def summary(results: dict) -> str:
    return "; ".join(f"{name}: {sum(r.values())} ok / {sum(not v for v in r.values())} not ok"
                     for name, r in sorted(results.items()))


@pytest.fixture(scope="module")
def validation():
    for tool in ("go", "runc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: make install brings it (APT_PKGS)")
    if not os.path.isdir(f"{GOPATH}/src/github.com/opencontainers/runtime-tools"):
        pytest.fail("golang-github-opencontainers-runtime-tools-dev is missing (APT_PKGS)")
    results = run_all(build())
    (REPO / ".cache" / "ocivalidate" / "last-run.txt").write_text(summary(results) + "\n")
    return results


def test_hako_runtime_passes_every_check_runc_passes(validation):
    hako, runc = validation["hako"], validation["runc"]
    assert len(runc) > 500, summary(validation)  # the suite really ran
    regressions = sorted(key for key, ok in runc.items()
                         if ok and not hako.get(key, False) and not _known(key))
    assert not regressions, f"{summary(validation)}; hako-runtime fails: {regressions}"


def test_known_differences_still_differ(validation):
    hako, runc = validation["hako"], validation["runc"]
    def differs(key):
        if key[1] == "*":
            key = (key[0], "create succeeds")
        return runc.get(key, False) and not hako.get(key, False)

    gone = sorted(key for key in KNOWN_DIFFERENCES if not differs(key))
    assert not gone, f"no longer a difference, remove from KNOWN_DIFFERENCES: {gone}"
