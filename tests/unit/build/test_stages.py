"""Stage splitting, --target and COPY --from cycle checks."""

import pytest

from hako.build import stages
from hako.build.dockerfile.parser import DockerfileParseError, parse
from hako.errors import InvalidArgument

MULTI = """ARG BASE=busybox
FROM $BASE AS build
RUN echo a
FROM busybox
COPY --from=build /a /a
FROM scratch AS final
COPY --from=1 /a /b
"""


def plan(text):
    return stages.split(parse(text)[1])


def test_split_and_find():
    p = plan(MULTI)
    assert len(p.meta_args) == 1
    assert [s.name for s in p.stages] == ["build", "", "final"]
    assert p.find("BUILD").index == 0 and p.find("1").index == 1 and p.find("final").index == 2
    assert p.find("nope") is None
    assert p.total_steps == 1 + 2 + 2 + 2


def test_target_truncates():
    p = stages.truncate(plan(MULTI), "build")
    assert [s.index for s in p.stages] == [0]
    with pytest.raises(InvalidArgument, match="failed to reach build target nope in Dockerfile"):
        stages.truncate(plan(MULTI), "nope")


def test_cycle_detected_with_line():
    text = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n"
    with pytest.raises(DockerfileParseError, match="line 2: circular dependency detected on stage: a"):
        stages.check_references(plan(text))
    with pytest.raises(DockerfileParseError, match="circular dependency"):
        stages.check_references(plan("FROM busybox AS a\nCOPY --from=a /x /x\n"))
    stages.check_references(plan(MULTI))


@pytest.mark.parametrize("text,reason", [
    ("RUN x\n", "no build stage in current context"),
    ("FROM a AS x\nFROM b AS x\n", "duplicate name x"),
])
def test_bad_structure(text, reason):
    with pytest.raises(DockerfileParseError, match=reason):
        plan(text)
