"""The live progress renderer (a terminal): a layer's bar follows its bytes and fills only when
the layer is done; errors in the stream raise; without a terminal byte counts are left out."""

from __future__ import annotations

import io
import json
import re

import pytest

from hako.cli import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _render(msgs, out):
    return progress.render_progress([("\n".join(json.dumps(m) for m in msgs) + "\n").encode()], out)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.parametrize("status", ["Loading layer", "Downloading", "Pushing"])
def test_bar_follows_the_bytes_of_a_moving_layer(status):
    out = _Tty()
    _render([{"status": status, "id": "abc", "progressDetail": {"current": 10, "total": 100}}], out)
    last = _plain(out.getvalue()).splitlines()[-1]
    assert last.startswith(f"abc: {status}") and "10/100 bytes" in last


def test_done_fills_the_bar_and_other_lines_follow_in_order():
    out = _Tty()
    _render([{"status": "Pulling from x", "id": "latest"},
             {"status": "Downloading", "id": "abc", "progressDetail": {"current": 10, "total": 100}},
             {"status": "Pull complete", "id": "abc", "progressDetail": {}},
             {"status": "Digest: sha256:00"}], out)
    text = _plain(out.getvalue())
    assert "100/100 bytes" in text.splitlines()[-2] and text.splitlines()[-1] == "Digest: sha256:00"


def test_plain_output_and_errors():
    out = io.StringIO()
    _render([{"status": "Downloading", "id": "abc", "progressDetail": {"current": 1, "total": 9},
              "progress": "[>]"}, {"status": "Pull complete", "id": "abc"}], out)
    assert out.getvalue() == "abc: Pull complete\n"
    with pytest.raises(progress.StreamError, match="boom"):
        _render([{"errorDetail": {"message": "boom"}, "error": "boom"}], io.StringIO())
