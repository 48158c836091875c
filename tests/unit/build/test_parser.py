"""Dockerfile text → typed instructions, and Docker's parse errors with line numbers."""

import pytest

from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.parser import DockerfileParseError, parse

SOURCE = """# escape=`
ARG X=1
FROM busybox AS Build
RUN <<EOF
echo hi
EOF
COPY --from=b --chown=1:1 a b /x/
ENV A=1 B="2 3"
ONBUILD RUN echo hi
HEALTHCHECK --interval=5s CMD true
LABEL a=b `
  c=d
CMD ["echo", "x"]
ENTRYPOINT top -b
EXPOSE 80 443/udp
VOLUME ["/data"]
SHELL ["/bin/ash", "-c"]
ADD --chmod=600 http://127.0.0.1/x /y
"""


def test_mapping():
    directives, nodes = parse(SOURCE)
    assert directives.escape == "`"
    kinds = [type(n) for n in nodes]
    assert kinds == [ins.Arg, ins.From, ins.Run, ins.Copy, ins.Env, ins.Onbuild, ins.Healthcheck,
                     ins.Label, ins.Cmd, ins.Entrypoint, ins.Expose, ins.Volume, ins.Shell, ins.Add]
    arg, frm, run, copy, env, onb, hc, label, cmd, ep, expose, vol, shell, add = nodes
    assert arg.pairs == (("X", "1"),)
    assert (frm.image, frm.name, frm.line) == ("busybox", "build", 3)
    assert run.heredocs[0].content == "echo hi\n" and (run.line, run.end_line) == (4, 6)
    assert (copy.sources, copy.dest, copy.from_, copy.chown) == (("a", "b"), "/x/", "b", "1:1")
    assert env.pairs == (("A", "1"), ("B", '"2 3"'))
    assert onb.expression == "RUN echo hi"
    assert hc.test == ("CMD-SHELL", "true") and hc.options == {"interval": "5s"}
    assert label.pairs == (("a", "b"), ("c", "d"))
    assert cmd.json and cmd.command == ("echo", "x")
    assert not ep.json and ep.command == ("top -b",)
    assert expose.ports == ("80", "443/udp")
    assert vol.json and vol.paths == ("/data",)
    assert shell.shell == ("/bin/ash", "-c")
    assert add.chmod == "600" and add.sources == ("http://127.0.0.1/x",)


@pytest.mark.parametrize("text,line,reason", [
    ("FROM a\nFOO bar\n", 2, "unknown instruction: FOO"),
    ("FROM a\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nONBUILD FROM b\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD MAINTAINER b\n", 2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM a\n\nCOPY x\n", 3, "COPY requires at least two arguments, but only one was provided. "
                             "Destination could not be determined."),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a\nRUN --mount=type=cache,target=/x true\n", 2, "the --mount option requires BuildKit"),
    ("FROM a\nCOPY --bogus=1 a b\n", 2, "Unknown flag: bogus"),
    ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM a\nSHELL /bin/sh\n", 2, "SHELL requires the arguments to be in JSON form"),
])
def test_errors(text, line, reason):
    with pytest.raises(DockerfileParseError) as info:
        parse(text)
    assert info.value.line == line
    assert str(info.value).startswith(f"Dockerfile parse error line {line}: {reason}")
