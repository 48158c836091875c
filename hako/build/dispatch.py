"""One function per Dockerfile instruction: expand words (for the instructions Docker
expands), change the stage's config, and commit a step through the builder.

Layer 5 (build). May import: errors, support, oci, image.
"""

from __future__ import annotations

import re
from typing import Any

from hako.build.builder import Builder, BuildStepError, StageState
from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.expand import expand_word, expand_words, set_env
from hako.build.dockerfile.parser import DockerfileParseError, parse_trigger
from hako.errors import EngineError, InvalidArgument
from hako.support.units import parse_go_duration


def _word(b: Builder, st: StageState, word: str) -> str:
    return expand_word(word, st.env(), b.escape)


def _words(b: Builder, st: StageState, items: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for item in items:
        out += expand_words(item, st.env(), b.escape)
    return out


def meta_arg(b: Builder, node: ins.Arg) -> None:
    for name, default in node.pairs:
        value = expand_word(default, b.args.meta_env(), b.escape) if default is not None else None
        b.args.add_meta(name, value)


def start_stage(b: Builder, stage: Any) -> StageState:
    """FROM: the base image (an earlier stage, a local image, or scratch) and its triggers.

    Raises:
        ImageNotFound: the base image is not local (pulling is not supported).
    """
    node: ins.From = stage.source
    name = expand_word(node.image, b.args.meta_env(), b.escape)
    if not name:
        raise DockerfileParseError(node.line, "base name (" + node.image + ") should not be blank")
    image = None
    earlier = b.plan.find(name) if name.lower() == name else None
    if earlier is not None and earlier.index < stage.index and earlier.name == name:
        image = b.images.get(b.results[earlier.index])
    elif name.lower() != "scratch":
        image = b.images.get(name)
    st = StageState(index=stage.index, name=stage.name, image_id=image.id if image else "",
                    config=b.base_config(image), args=b.args.stage())
    triggers = list(st.config.get("OnBuild") or [])
    st.config["OnBuild"] = None
    if triggers:
        b.out(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        for text in triggers:
            dispatch(b, st, parse_trigger(text, node.line))
    return st


def dispatch(b: Builder, st: StageState, node: ins.Instruction) -> None:
    """Run one instruction against the stage, then remove its containers (Docker's
    deferred ``RemoveAll``: with ``forcerm`` always, with ``rm`` when the step succeeded).

    Raises:
        EngineError kinds; messages of non-parse errors gain the line like Docker's.
    """
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise DockerfileParseError(node.line, f"unknown instruction: {node.keyword}")
    try:
        try:
            handler(b, st, node)
        except BaseException:
            b.remove_containers(failed=True)
            raise
        b.remove_containers(failed=False)
    except (DockerfileParseError, BuildStepError):
        raise
    except EngineError as exc:
        raise type(exc)(f"{exc}" if f"line {node.line}" in str(exc)
                        else f"Dockerfile line {node.line}: {node.keyword} failed: {exc}") from exc


# -- config-only instructions ---------------------------------------------------------------
def _env(b: Builder, st: StageState, node: ins.Env) -> None:
    env = st.env()
    pairs = [(expand_word(k, env, b.escape), expand_word(v, env, b.escape)) for k, v in node.pairs]
    for key, value in pairs:
        st.config["Env"] = set_env(st.config.get("Env"), key, value)
    b.commit_config(st, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))


def _arg(b: Builder, st: StageState, node: ins.Arg) -> None:
    parts = []
    for name, default in node.pairs:
        value = _word(b, st, default) if default is not None else None
        st.args.declare(name, value)
        parts.append(name if value is None and default is None else f"{name}={value}")
    b.commit_config(st, "ARG " + " ".join(parts))


def _label(b: Builder, st: StageState, node: ins.Label) -> None:
    labels = dict(st.config.get("Labels") or {})
    parts = []
    for k, v in node.pairs:
        key, value = _word(b, st, k), _word(b, st, v)
        if not key:
            raise InvalidArgument("LABEL names can not be blank")
        labels[key] = value
        parts.append(f"{key}={value}")
    st.config["Labels"] = labels
    b.commit_config(st, "LABEL " + " ".join(parts))


def _maintainer(b: Builder, st: StageState, node: ins.Maintainer) -> None:
    st.maintainer = node.name
    b.commit_config(st, "MAINTAINER " + node.name)


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


def _expose(b: Builder, st: StageState, node: ins.Expose) -> None:
    ports = _words(b, st, node.ports)
    exposed = dict(st.config.get("ExposedPorts") or {})
    for spec in ports:
        m = _PORT.match(spec.lower().split(":")[-1])
        if not m:
            raise InvalidArgument(f"invalid containerPort: {spec}")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if high < low or high > 65535:
            raise InvalidArgument(f"invalid port range: {spec}")
        for port in range(low, high + 1):
            exposed[f"{port}/{m.group(3) or 'tcp'}"] = {}
    st.config["ExposedPorts"] = exposed
    b.commit_config(st, "EXPOSE " + " ".join(ports))


def _volume(b: Builder, st: StageState, node: ins.Volume) -> None:
    paths = [_word(b, st, p) for p in node.paths] if node.json else _words(b, st, node.paths)
    vols = dict(st.config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise InvalidArgument("VOLUME specified can not be an empty string")
        vols[path] = {}
    st.config["Volumes"] = vols
    b.commit_config(st, f"VOLUME [{' '.join(paths)}]")


def _user(b: Builder, st: StageState, node: ins.User) -> None:
    st.config["User"] = _word(b, st, node.user)
    b.commit_config(st, "USER " + st.config["User"])


def _stopsignal(b: Builder, st: StageState, node: ins.Stopsignal) -> None:
    sig = _word(b, st, node.signal)
    st.config["StopSignal"] = sig
    b.commit_config(st, "STOPSIGNAL " + sig)


def _command_form(st: StageState, node: Any) -> list[str]:
    if node.json:
        return list(node.command)
    return st.shell + [" ".join(node.command)]


def _go_quote(items: list[str]) -> str:
    import json

    return "[" + " ".join(json.dumps(i) for i in items) + "]"


def _cmd(b: Builder, st: StageState, node: ins.Cmd) -> None:
    st.config["Cmd"] = _command_form(st, node)
    st.cmd_set = True
    b.commit_config(st, "CMD " + _go_quote(st.config["Cmd"]))


def _entrypoint(b: Builder, st: StageState, node: ins.Entrypoint) -> None:
    st.config["Entrypoint"] = _command_form(st, node)
    if not st.cmd_set:
        st.config["Cmd"] = None
    b.commit_config(st, "ENTRYPOINT " + _go_quote(st.config["Entrypoint"]))


def _onbuild(b: Builder, st: StageState, node: ins.Onbuild) -> None:
    st.config["OnBuild"] = list(st.config.get("OnBuild") or []) + [node.expression]
    b.commit_config(st, "ONBUILD " + node.expression)


def _shell(b: Builder, st: StageState, node: ins.Shell) -> None:
    st.config["Shell"] = list(node.shell)
    b.commit_config(st, f"SHELL [{' '.join(node.shell)}]")


def _healthcheck(b: Builder, st: StageState, node: ins.Healthcheck) -> None:
    if node.test == ("NONE",):
        hc: dict[str, Any] = {"Test": ["NONE"]}
    else:
        hc = {"Test": list(node.test)}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
            if node.options.get(flag):
                value = parse_go_duration(node.options[flag])
                if value and value < 1_000_000:  # moby's parseOptInterval (negative too)
                    raise InvalidArgument(f"Interval \"{flag}\" cannot be less than 1ms")
                hc[key] = value
        if node.options.get("retries"):
            try:
                hc["Retries"] = int(node.options["retries"])
            except ValueError:
                raise InvalidArgument(f"invalid value for retries: {node.options['retries']}") from None
            if hc["Retries"] < 0:
                raise InvalidArgument("--retries cannot be negative")
    st.config["Healthcheck"] = hc
    b.commit_config(st, "HEALTHCHECK " + _go_quote(hc["Test"]))


def _handlers() -> dict[type, Any]:
    from hako.build import steps

    return {
        ins.Env: _env, ins.Arg: _arg, ins.Label: _label, ins.Maintainer: _maintainer,
        ins.Expose: _expose, ins.Volume: _volume, ins.User: _user, ins.Stopsignal: _stopsignal,
        ins.Cmd: _cmd, ins.Entrypoint: _entrypoint, ins.Onbuild: _onbuild, ins.Shell: _shell,
        ins.Healthcheck: _healthcheck, ins.Run: steps.run, ins.Workdir: steps.workdir,
        ins.Copy: steps.copy, ins.Add: steps.copy,
    }


class _Lazy(dict):
    def get(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        if not self:
            self.update(_handlers())
        return super().get(key, default)


_HANDLERS = _Lazy()
