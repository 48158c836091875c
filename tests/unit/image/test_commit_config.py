"""Pure logic of POST /commit's config: body, then changes, then Docker's merge."""

from __future__ import annotations

import pytest

from hako.errors import InvalidArgument
from hako.image.commit import container_commit_config, merge_container_config, source_date_epoch

CONTAINER = {
    "Hostname": "abc", "User": "app", "Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"],
    "Entrypoint": None, "WorkingDir": "/srv", "Labels": {"l": "1"},
    "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "StopSignal": "SIGINT",
}


def test_empty_body_takes_the_container_config():
    out = container_commit_config(None, [], CONTAINER)
    assert out["Cmd"] == ["sh"] and out["User"] == "app" and out["WorkingDir"] == "/srv"
    assert out["Env"] == ["PATH=/bin", "A=1"] and out["Labels"] == {"l": "1"}
    assert out["ExposedPorts"] == {"80/tcp": {}} and out["Volumes"] == {"/data": {}}
    assert out["StopSignal"] == "SIGINT" and "Hostname" not in out


def test_changes_win_and_merge():
    out = container_commit_config({"Env": ["B=2"]}, ['CMD ["echo","x"]', "ENV A=9", "EXPOSE 53/udp",
                                                     "LABEL m=2"], CONTAINER)
    assert out["Cmd"] == ["echo", "x"]
    assert out["Env"] == ["B=2", "A=9", "PATH=/bin"]
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert out["Labels"] == {"l": "1", "m": "2"}


def test_entrypoint_change_drops_container_cmd():
    out = merge_container_config({"Entrypoint": ["/x"]}, CONTAINER)
    assert out["Entrypoint"] == ["/x"] and "Cmd" not in out
    out = merge_container_config({"Cmd": ["y"]}, {**CONTAINER, "Entrypoint": ["/e"]})
    assert out["Cmd"] == ["y"] and out["Entrypoint"] == ["/e"]


def test_bad_change():
    with pytest.raises(InvalidArgument, match="RUN is not a valid change command"):
        container_commit_config(None, ["RUN true"], CONTAINER)


def test_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert source_date_epoch() is None and source_date_epoch(5) == 5
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "12")
    assert source_date_epoch() == 12
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(InvalidArgument):
        source_date_epoch()
