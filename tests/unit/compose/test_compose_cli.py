"""``hako compose`` verbs that need no daemon: config (normalised model), version, flags."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml

from hako.cli.main import Context, run_cli

DATA = Path(__file__).resolve().parents[2] / "data" / "compose"


def cli(*args, cwd=None, environ=None):
    out, err = io.StringIO(), io.StringIO()
    ctx = Context("", environ or {}, stdout=out, stderr=err)
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        code = run_cli(["compose", *args], environ or {}, ctx)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def test_config_prints_the_normalised_fig_project():
    code, out, err = cli("config", cwd=DATA / "fig")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["name"] == "fig"
    assert list(doc["services"]) == ["db", "web"]
    web = doc["services"]["web"]
    assert list(web) == sorted(web)  # keys sorted, as compose prints them
    assert web["ports"] == [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 5000,
                             "published": "5000", "protocol": "tcp"}]
    assert web["environment"] == {"DB_ADDR": "db:6379"}
    assert web["volumes"][0]["source"] == str(DATA / "fig" / "www")
    assert web["networks"] == {"default": None}
    assert doc["networks"] == {"default": {"name": "fig_default"}}
    assert "Fig/v1 file format is deprecated" in err


def test_config_services_volumes_quiet_json(tmp_path):
    assert cli("config", "--services", cwd=DATA / "full")[1] == "app\ndb\ninit\n"
    assert cli("config", "--volumes", cwd=DATA / "full")[1] == "data\ndbdata\nlogs\n"
    assert cli("config", "-q", cwd=DATA / "full")[1] == ""
    code, out, _ = cli("config", "--format", "json", cwd=DATA / "override")
    assert code == 0 and json.loads(out)["services"]["web"]["command"] == ["sleep", "200"]
    code, out, _ = cli("-f", "compose.yaml", "-f", "other.yaml", "config", "--services",
                       cwd=DATA / "override")
    assert out == "extra\nweb\n"
    assert cli("--profile", "debug", "config", "--services", cwd=DATA / "profiles")[1] == \
        "app\ndebug\ntools\n"
    assert cli("config", "--profiles", cwd=DATA / "profiles")[1] == "debug\ntools\n"


def test_config_hash_matches_labels():
    from hako.compose import convert
    from hako.compose.loader import Options, load_project

    p = load_project(Options(cwd=str(DATA / "full"), environ={}))
    code, out, _ = cli("config", "--hash", "db", cwd=DATA / "full")
    assert out == f"db {convert.config_hash(p.services['db'])}\n"


def test_project_directory_and_env_file(tmp_path):
    (tmp_path / "x.env").write_text("TAG=9\n")
    code, out, err = cli("--project-directory", str(DATA / "envfile"), "--env-file",
                         str(tmp_path / "x.env"), "config", cwd=tmp_path)
    assert code == 0, err
    assert yaml.safe_load(out)["services"]["app"]["image"] == "busybox:9"


@pytest.mark.parametrize("args,msg", [
    (["nope"], "unknown command: hako compose nope"),
    (["--bogus", "config"], "unknown flag: --bogus"),
    (["--dry-run", "up"], "--dry-run is not supported by hako compose"),
])
def test_usage_errors(args, msg):
    code, _, err = cli(*args)
    assert code != 0 and msg in err


def test_errors_are_printed_bare_with_file_and_line(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n    bad: 1\n")
    code, out, err = cli("config", cwd=tmp_path)
    assert code == 1
    assert err == (f"{tmp_path / 'compose.yaml'}:4: services.a: additional property 'bad' "
                   "is not allowed\n")


def test_version():
    assert cli("version")[1].startswith("hako compose version v")


def test_tty_progress_redraws_in_place():
    from hako.cli.commands.compose_view import TtyProgress

    out = io.StringIO()
    t = iter([0.0, 0.1, 0.5, 0.6])
    p = TtyProgress(out, clock=lambda: next(t))
    p("Network", "d_default", "Creating")
    p("Network", "d_default", "Created")
    p("Container", "d-web-1", "Creating")
    p("Container", "d-web-1", "Created")
    frames = out.getvalue().split("\x1b[")
    assert out.getvalue().count("[+] Running") == 4
    last = out.getvalue().rsplit("[+] Running", 1)[1]
    assert last.startswith(" 2/2\n")
    assert "\u2714 Network d_default  Created    0.1s" in last
    assert "\u2714 Container d-web-1  Created    0.1s" in last
    assert any(f.startswith("2A") for f in frames)  # cursor up over the previous frame
