"""``hako commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`` (docker commit).

The seed's ``--run='{"Cmd": [...]}'`` (docker 0.x: a JSON container config) is accepted as
a deprecated spelling: each key with a Dockerfile equivalent becomes a ``--change`` line
(``Cmd`` → ``CMD [...]``, ``Env`` → ``ENV``, ``PortSpecs``/``ExposedPorts`` → ``EXPOSE``…),
other keys are sent as the request's config body, and a warning goes to stderr.
"""

from __future__ import annotations

import json
from typing import Any

from hako.cli.main import CliError
from hako.cli.parsing import Parser

#: --run keys → Dockerfile instruction that --change understands
_LIST_KEYS = {"Cmd": "CMD", "Entrypoint": "ENTRYPOINT"}
_TEXT_KEYS = {"User": "USER", "WorkingDir": "WORKDIR", "StopSignal": "STOPSIGNAL"}


def run_to_changes(text: str) -> tuple[list[str], dict[str, Any]]:
    """Translate a ``--run`` JSON config into (change lines, leftover config keys).

    Raises:
        CliError: not a JSON object.
    """
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise CliError(f"invalid --run JSON: {exc}") from exc
    if not isinstance(conf, dict):
        raise CliError("invalid --run JSON: expected an object such as '{\"Cmd\": [\"sh\"]}'")
    changes: list[str] = []
    rest: dict[str, Any] = {}
    for key, value in conf.items():
        if key in _LIST_KEYS and value is not None:
            words = [value] if isinstance(value, str) else list(value)
            changes.append(f"{_LIST_KEYS[key]} {json.dumps(words)}")
        elif key in _TEXT_KEYS and value:
            changes.append(f"{_TEXT_KEYS[key]} {value}")
        elif key == "Env" and value:
            changes += [f"ENV {e}" if "=" in e else f"ENV {e}=" for e in value]
        elif key in ("PortSpecs", "ExposedPorts") and value:
            ports = [p.rsplit(":", 1)[-1] for p in value]
            changes.append("EXPOSE " + " ".join(ports))
        elif key == "Volumes" and value:
            changes.append("VOLUME " + json.dumps(sorted(value)))
        elif key == "Labels" and value:
            changes.append("LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}"
                                               for k, v in value.items()))
        else:
            rest[key] = value
    return changes, rest


def commit(ctx: Any, argv: list[str]) -> int:
    """hako commit [-a AUTHOR] [-m MSG] [-c CHANGE]... [-p] CONTAINER [REPO[:TAG]]"""
    from hako.cli.commands.image import _with_changes, split_repo_tag

    p = Parser("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]")
    p.option("-a", "--author", default="")
    p.option("-m", "--message", default="")
    p.multi("-c", "--change")
    p.flag("-p", "--pause", default=True)
    p.multi("--run")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1, at_most=2)
    changes, body = list(opts.change), {}
    for text in opts.run:
        ctx.err("Warning: '--run' is deprecated, it will be replaced by '--change' soon. "
                "See usage.")
        more, rest = run_to_changes(text)
        changes += more
        body.update(rest)
    repo, tag = split_repo_tag(args[1]) if len(args) > 1 else ("", "")
    params = _with_changes({
        "container": args[0], "repo": repo or None, "tag": tag or None,
        "comment": opts.message or None, "author": opts.author or None, "pause": opts.pause,
    }, changes)
    resp = ctx.api.post_json("/commit", params, body or None)
    ctx.out(resp.get("Id", ""))
    return 0
