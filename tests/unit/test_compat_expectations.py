"""The docker-py run cannot skip by choice of files: the script names none, every
expectation key names a real file of the suite, and file-level expected failures give way
to the more specific entries."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / ".cache" / "docker-7.0.0" / "tests" / "integration"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exp = _load("hako_exp_under_test", REPO / "tests" / "compat" / "expectations.py")
plugin = _load("hako_plugin_under_test", REPO / "tests" / "compat" / "dockerpy_plugin.py")


def test_script_runs_the_whole_integration_directory():
    script = (REPO / "scripts" / "dockerpy.sh").read_text()
    assert 'args+=("tests/integration")' in script
    assert "FILES=" not in script


def test_keys_name_files_of_the_suite():
    keys = set(exp.DESELECTED) | set(exp.EXPECTED_FAILURES) | set(exp.EXPECTED_PASSES)
    files = {k.split("::")[0] for k in keys}
    assert all(f.endswith("_test.py") for f in files)
    if SUITE.is_dir():
        assert not files - {p.name for p in SUITE.rglob("*_test.py")}


def test_every_expectation_has_a_reason():
    for table in (exp.DESELECTED, exp.EXPECTED_FAILURES, exp.EXPECTED_PASSES):
        assert all(isinstance(v, str) and len(v) > 10 for v in table.values())


def test_most_specific_key_wins():
    assert plugin.expected_failure(exp, "api_swarm_test.py::SwarmTest::test_init_swarm_simple") == exp._SWARM
    assert plugin.expected_failure(exp, "api_volume_test.py::TestVolumes::test_create_volume") is None
    assert plugin.expected_failure(exp, "api_exec_test.py::ExecTest::test_execute_command") is None
    assert plugin.expected_failure(exp, "api_container_test.py::PortTest::test_port") is None
    assert plugin.expected_failure(exp, "api_network_test.py::TestNetworks::test_list_networks") is None
    assert plugin.expected_failure(exp, "api_network_test.py::TestNetworks::test_create_network_ingress") == exp._NET_SWARM
