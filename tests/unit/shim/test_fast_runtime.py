"""shimclient.fast_runtime: hako's console script becomes a site-less wrapper, others stay."""

import os
import subprocess
import sys

from hako.runtime import shimclient


def _script(path, body: str) -> str:
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def test_console_script_gets_a_dash_S_wrapper(tmp_path):
    script = _script(tmp_path / "hako-runtime", f"#!{sys.executable}\nimport sys\n"
                     "from hako.runtime.cli import main\nsys.exit(main())\n")
    out = shimclient.fast_runtime(script, str(tmp_path / "bin"))
    assert out == str(tmp_path / "bin" / "hako-runtime")
    assert open(out).readline() == f"#!{sys.executable} -S\n"
    assert os.access(out, os.X_OK)
    assert shimclient.fast_runtime(script, str(tmp_path / "bin")) == out  # reused
    res = subprocess.run([out], capture_output=True, text=True, env={})
    assert res.returncode == 0 and "usage: hako-runtime" in res.stderr


def test_other_runtimes_are_unchanged(tmp_path):
    other = _script(tmp_path / "runc", "#!/bin/sh\nexec true\n")
    assert shimclient.fast_runtime(other, str(tmp_path / "bin")) == other
    assert shimclient.fast_runtime("no-such-runtime-xyz", str(tmp_path / "bin")) == "no-such-runtime-xyz"
    assert not (tmp_path / "bin").exists()
