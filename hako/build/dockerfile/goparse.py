"""BuildKit's Dockerfile parser (the ``dockerfile`` package, Go), run outside hakod.

Loading that library maps about 3.5 MiB of Go code and starts Go's runtime (its heap and
threads) for the rest of the process's life: an idle hakod that had built once stayed
about 4 MiB bigger. So a daemon asks its shim zygote to parse in a fork
(``zygote.call``: fork, load the library, parse, exit: 6 ms on a quiet machine, 20-30 ms
under load); without a zygote (the CLI, tests, a zygote that is down) the text is parsed in
this process. The last ``CACHED`` texts' commands are kept (a few KiB each), so rebuilding
the same Dockerfile, cached or ``--no-cache``, parses nothing.

    parse_string(text) -> [Command(cmd, sub_cmd, json, original, start_line, end_line,
                                   flags, value, heredocs)]   # as dockerfile.parse_string

Layer 5 (build). May import: runtime (zygote).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple

Command = namedtuple("Command", "cmd sub_cmd json original start_line end_line flags value heredocs")
Heredoc = namedtuple("Heredoc", "name file_descriptor content")
TIMEOUT = 30.0
CACHED = 16
CACHED_TEXT = 64 << 10  # longer texts are not kept

_library_dir: list[str] = []
_cache: OrderedDict[str, list[Command]] = OrderedDict()
_cache_lock = threading.Lock()


class GoParseError(Exception):
    """The parser refused the text (its message names the line)."""


def parse_string(text: str) -> list[Command]:
    """Commands of a Dockerfile, as ``dockerfile.parse_string`` gives them.

    Raises:
        GoParseError: the parser refused the text.
    """
    with _cache_lock:
        if text in _cache:
            _cache.move_to_end(text)
            return list(_cache[text])
    commands = _parse(text)
    if len(text) <= CACHED_TEXT:
        with _cache_lock:
            _cache[text] = commands
            while len(_cache) > CACHED:
                _cache.popitem(last=False)
    return list(commands)


def _parse(text: str) -> list[Command]:
    from hako.runtime import zygote

    try:
        reply = zygote.call(__name__, "parse_here", [text], TIMEOUT, tuple(_library_path()))
    except OSError:  # the fork died: parse here rather than fail the build
        reply = None
    if reply is None:
        reply = parse_here(text)
    if "error" in reply:
        raise GoParseError(reply["error"])
    return [Command(*c[:6], tuple(c[6]), tuple(c[7]), tuple(Heredoc(*h) for h in c[8]))
            for c in reply["commands"]]


def parse_here(text: str) -> dict:
    """Parse in this process: ``{"commands": [...]}`` (JSON values) or ``{"error": ...}``."""
    import dockerfile

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        return {"error": str(exc)}
    return {"commands": [[*c[:8], [list(h) for h in c.heredocs]] for c in commands]}


def _library_path() -> list[str]:
    """Where the ``dockerfile`` library is (for the zygote's child, which runs without
    site-packages on its path); found without loading it."""
    if not _library_dir:
        import importlib.util
        import os

        spec = importlib.util.find_spec("dockerfile")
        _library_dir.append(os.path.dirname(spec.origin) if spec and spec.origin else "")
    return [p for p in _library_dir if p]
