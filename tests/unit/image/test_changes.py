import pytest

from hako.errors import InvalidArgument
from hako.image.changes import apply_changes

CASES = [
    ('CMD ["sh"]', {"Cmd": ["sh"]}),
    ("CMD echo hi", {"Cmd": ["/bin/sh", "-c", "echo hi"]}),
    ('ENTRYPOINT ["/bin/init", "-v"]', {"Entrypoint": ["/bin/init", "-v"]}),
    ("ENV A=1 B=\"two words\"", {"Env": ["A=1", "B=two words"]}),
    ("ENV LEGACY some value", {"Env": ["LEGACY=some value"]}),
    ("EXPOSE 80 53/udp", {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}),
    ("LABEL a=b", {"Labels": {"a": "b"}}),
    ("USER nobody", {"User": "nobody"}),
    ('VOLUME ["/data"]', {"Volumes": {"/data": {}}}),
    ("VOLUME /a /b", {"Volumes": {"/a": {}, "/b": {}}}),
    ("WORKDIR /srv", {"WorkingDir": "/srv"}),
    ("STOPSIGNAL SIGKILL", {"StopSignal": "SIGKILL"}),
    ("ONBUILD RUN true", {"OnBuild": ["RUN true"]}),
    ("cmd lower", {"Cmd": ["/bin/sh", "-c", "lower"]}),
]


@pytest.mark.parametrize("line,expected", CASES)
def test_change(line, expected):
    out = apply_changes({}, [line])
    for key, value in expected.items():
        assert out[key] == value


def test_env_replaces_same_key():
    assert apply_changes({"Env": ["A=1", "B=2"]}, ["ENV A=3"])["Env"] == ["B=2", "A=3"]


@pytest.mark.parametrize("line,message", [("RUN true", "RUN is not a valid change command"),
                                          ("FROM x", "FROM is not a valid change command")])
def test_invalid(line, message):
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [line])
