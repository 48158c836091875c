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


def test_shim_deletes_in_process_only_through_its_own_wrapper(tmp_path):
    from hako.runtime import shim

    script = _script(tmp_path / "hako-runtime", f"#!{sys.executable}\nimport sys\n"
                     "from hako.runtime.cli import main\nsys.exit(main())\n")
    wrapper = shimclient.fast_runtime(script, str(tmp_path / "bin"))
    assert shim.is_own_runtime(wrapper)
    assert not shim.is_own_runtime(script)  # the console script: its own interpreter decides
    other = _script(tmp_path / "runc", "#!/bin/sh\nexit 0\n")
    assert not shim.is_own_runtime(other)
    assert not shim.is_own_runtime(str(tmp_path / "missing"))


def test_in_process_delete_of_an_unknown_id_is_a_forced_no_op(tmp_path):
    from hako.runtime import shim

    script = _script(tmp_path / "hako-runtime", f"#!{sys.executable}\nimport sys\n"
                     "from hako.runtime.cli import main\nsys.exit(main())\n")
    wrapper = shimclient.fast_runtime(script, str(tmp_path / "bin"))
    root = tmp_path / "root"
    root.mkdir()
    assert shim.runtime_delete([wrapper, "--root", str(root)], "nosuch") == 0
    # the CLI path gives the same answer for a runtime that is not ours
    failing = _script(tmp_path / "runc", "#!/bin/sh\nexit 3\n")
    assert shim.runtime_delete([failing, "--root", str(root)], "nosuch") == 3
