"""Environment lists: ``-e KEY=VAL``, ``-e KEY`` (from the caller's environment), env files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hako.errors import InvalidArgument


def parse_env_arg(value: str, environ: Mapping[str, str]) -> str | None:
    """One ``-e`` value: ``KEY=VAL`` as is; bare ``KEY`` takes the caller's value.

    Returns:
        "KEY=VAL", or None when a bare KEY is not set in ``environ`` (docker omits it).

    Raises:
        InvalidArgument: an empty variable name (``=x``).
    """
    key, sep, _ = value.partition("=")
    if not key:
        raise InvalidArgument(f"invalid environment variable: {value}")
    if sep:
        return value
    if key in environ:
        return f"{key}={environ[key]}"
    return None


def parse_env_file_text(text: str, environ: Mapping[str, str], name: str = "") -> list[str]:
    """Parse an env file like docker's ``--env-file``.

    Blank lines and lines starting with ``#`` are skipped; leading whitespace of a variable
    name is dropped; ``KEY`` without ``=`` takes the caller's value or is omitted.

    Raises:
        InvalidArgument: a variable name contains whitespace or is empty.
    """
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, val = line.partition("=")
        if not key:
            raise InvalidArgument(f"no variable name on line '{line}'")
        if any(c.isspace() for c in key):
            raise InvalidArgument(f"variable '{key}' contains whitespaces")
        if sep:
            out.append(f"{key}={val}")
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out


def read_env_file(path: str, environ: Mapping[str, str]) -> list[str]:
    """Read and parse an env file.

    Raises:
        InvalidArgument: the file cannot be read or is malformed.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror.lower()}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"env file {path} contains invalid utf8 bytes") from exc
    return parse_env_file_text(text, environ, path)


def merge_env(files: Iterable[str], args: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """Env files first, then ``-e`` values (docker's order; later entries win in the daemon)."""
    out: list[str] = []
    for path in files:
        out += read_env_file(path, environ)
    for arg in args:
        item = parse_env_arg(arg, environ)
        if item is not None:
            out.append(item)
    return out


def to_mapping(env: Iterable[str]) -> dict[str, str]:
    """``["A=1", "B"]`` → ``{"A": "1"}``; later keys win, bare names are dropped."""
    out: dict[str, str] = {}
    for item in env:
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out
