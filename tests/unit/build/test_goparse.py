"""hako.build.dockerfile.goparse without a zygote: the text is parsed in this process and
the commands are those of ``dockerfile.parse_string`` (JSON round trip included); the last
texts' commands are kept, so a rebuild parses nothing."""

from __future__ import annotations

from collections import OrderedDict

import dockerfile
import pytest

from hako.build.dockerfile import goparse
from hako.runtime import zygote

TEXT = "FROM busybox AS b\nCOPY --chown=1 a b\nRUN <<EOF\necho hi\nEOF\nCMD [\"sh\"]\n"


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(goparse, "_cache", OrderedDict())


def test_without_a_zygote_the_commands_are_the_go_parsers(monkeypatch):
    monkeypatch.setattr(zygote, "_socket_path", None)
    got = goparse.parse_string(TEXT)
    assert got == list(dockerfile.parse_string(TEXT))
    assert got[2].heredocs[0].content == "echo hi\n" and got[1].flags == ("--chown=1",)
    assert got[0]._replace(start_line=9).start_line == 9  # parser.parse_trigger's use


def test_a_refused_text_raises_with_the_go_message(monkeypatch):
    monkeypatch.setattr(zygote, "_socket_path", None)
    with pytest.raises(goparse.GoParseError, match="unterminated heredoc"):
        goparse.parse_string("FROM busybox\nRUN <<EOF\necho\n")


def test_a_zygote_that_dies_mid_call_falls_back_to_parsing_here(monkeypatch):
    def dying(*args, **kwargs):
        raise OSError("the zygote's call failed")

    monkeypatch.setattr(zygote, "call", dying)
    assert goparse.parse_string(TEXT) == list(dockerfile.parse_string(TEXT))


def test_the_last_texts_are_parsed_once(monkeypatch):
    calls = []

    def counting(module, function, args, *rest, **kwargs):
        calls.append(args[0])
        return goparse.parse_here(args[0])

    monkeypatch.setattr(zygote, "call", counting)
    monkeypatch.setattr(goparse, "CACHED", 2)
    first = goparse.parse_string(TEXT)
    assert goparse.parse_string(TEXT) == first and calls == [TEXT]
    goparse.parse_string("FROM a\n")
    goparse.parse_string(TEXT)  # the most recently used of two
    goparse.parse_string("FROM b\n")  # evicts "FROM a"
    goparse.parse_string("FROM a\n")
    assert calls == [TEXT, "FROM a\n", "FROM b\n", "FROM a\n"]
    big = "FROM a\n" + ("#" + "x" * 1000 + "\n") * (goparse.CACHED_TEXT // 1000 + 1)
    goparse.parse_string(big)
    goparse.parse_string(big)
    assert calls[-2:] == [big, big]  # too long to keep
