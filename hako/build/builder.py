"""The legacy builder's stage loop (what ``DOCKER_BUILDKIT=0 docker build`` talks to).

For each stage: resolve the base (an earlier stage, an image, or scratch), run the base's
ONBUILD triggers, then dispatch every instruction (``dispatch.py``). Every instruction makes
an image: config-only steps through ``ImageService.commit_config``, filesystem steps by
committing an active snapshot (RUN: the step's container, run by the injected ``Runner``;
WORKDIR: a created, never started container whose snapshot the builder writes; ADD/COPY: a
bare snapshot). As Docker's ``probeAndCreate``, a config-only step that misses the cache
still creates (never starts) a container from the step's ``#(nop)`` config, so the output
shows `` ---> Running in <id>``; the step's containers are removed after it (``rm``, or
``forcerm`` also after a failure). Each step first probes the legacy cache (``cache.py``).
Progress goes to ``emit`` as Docker's JSON-lines messages.

Layer 5 (build). May import: errors, support, oci, opts, store, image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hako.build import cache, stages
from hako.build.args import BuildArgs, StageArgs
from hako.build.context import BuildContext
from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.expand import env_map, set_env
from hako.build.dockerfile.parser import DockerfileParseError, parse
from hako.errors import EngineError, InvalidArgument

log = logging.getLogger("hako.build")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
Emit = Callable[[dict[str, Any]], None]


class Runner(Protocol):
    """Makes the steps' containers (implemented by the daemon's build_runner).

    Lifecycle: ``create`` (the container's snapshot is named by its id) → for RUN only,
    ``start_and_wait`` (output chunks go to ``output(data, is_stderr)`` while it runs) → the
    builder commits → ``remove``.
    """

    def create(self, config: dict[str, Any], host_config: dict[str, Any]) -> str: ...

    def start_and_wait(self, container_id: str, output: Callable[[bytes, bool], None]) -> int: ...

    def remove(self, container_id: str) -> None: ...


class BuildCancelled(EngineError):
    """The client went away: Docker cancels the build (``context canceled``), killing and
    removing a running step's container."""

    def __init__(self) -> None:
        super().__init__("context canceled")


class BuildStepError(EngineError):
    """A step failed; ``code`` is the RUN exit status when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = ""
    buildargs: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    nocache: bool = False
    rm: bool = True
    forcerm: bool = False
    quiet: bool = False
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    cache_from: list[str] = field(default_factory=list)
    platform: str = ""
    source_date_epoch: int | None = None
    # the step containers' resource fields (HostConfig keys: Memory, CpuShares, ShmSize,
    # Ulimits, CgroupParent…), as the legacy builder's hostConfigFromOptions
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageState:
    """What a stage has built so far."""

    index: int
    name: str
    image_id: str
    config: dict[str, Any]
    args: StageArgs
    cmd_set: bool = False
    maintainer: str = ""

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def env(self) -> dict[str, str]:
        """Variables for word expansion: stage ARGs, overridden by ENV."""
        envs = env_map(self.config.get("Env"))
        return {**self.args.values(), **envs}


class Builder:
    """One build. ``run()`` returns the final image id or raises."""

    def __init__(self, images: Any, runner: Runner, context: BuildContext, options: BuildOptions,
                 emit: Emit, cancelled: Any = None) -> None:
        self.images, self.runner, self.context, self.opts = images, runner, context, options
        self._emit = emit
        self.cancelled = cancelled  # a threading.Event set when the client goes away
        self.escape = "\\"
        self.args = BuildArgs(options.buildargs)
        self.results: dict[int, str] = {}
        self.cache_sources: set[str] | None = None
        self.plan: stages.Plan | None = None
        self.step = 0
        self.tmp_containers: list[str] = []  # created by the current step, not yet removed

    # -- output ----------------------------------------------------------------------------
    def out(self, text: str) -> None:
        if not self.opts.quiet and text:
            self._emit({"stream": text})

    def aux(self, image_id: str) -> None:
        self._emit({"aux": {"ID": image_id}})

    def check_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled.is_set():
            raise BuildCancelled()

    def print_step(self, original: str) -> None:
        self.check_cancelled()
        self.step += 1
        total = self.plan.total_steps if self.plan else self.step
        self.out(f"Step {self.step}/{total} : {original}\n")

    # -- the loop --------------------------------------------------------------------------
    def prepare(self) -> stages.Plan:
        """Read and parse the Dockerfile; resolve stages and the target (no output).

        Raises:
            NotFound (no Dockerfile), DockerfileParseError, InvalidArgument (target, cycles).
        """
        text = self.context.read_dockerfile(self.opts.dockerfile)
        self.context.drop_ignored_build_files(self.opts.dockerfile)
        directives, nodes = parse(text)
        self.escape = directives.escape
        plan = stages.truncate(stages.split(nodes), self.opts.target)
        stages.check_references(plan)
        if self.opts.labels:
            last = plan.stages[-1]
            last.commands.append(_label_node(self.opts.labels, last.source.line))
        self.plan = plan
        return plan

    def run(self) -> str:
        """Build every stage up to the target (after :meth:`prepare`).

        Returns:
            The final image id.

        Raises:
            BuildStepError, EngineError kinds from the steps.
        """
        from hako.build import dispatch

        plan = self.plan or self.prepare()
        for meta in plan.meta_args:
            self.print_step(meta.original)
            dispatch.meta_arg(self, meta)
        state = None
        for stage in plan.stages:
            self.print_step(stage.source.original)
            state = dispatch.start_stage(self, stage)
            self.out(f" ---> {_short(state.image_id)}\n")
            for node in stage.commands:
                self.print_step(node.original)
                dispatch.dispatch(self, state, node)
                self.out(f" ---> {_short(state.image_id)}\n")
            if not state.image_id:
                raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
            self.aux(state.image_id)
            self.results[stage.index] = state.image_id
        assert state is not None
        self.out(self.args.unused_warning())
        return state.image_id

    def stage_image(self, ref: str, current: int) -> str | None:
        """Image id of an earlier stage named or numbered ``ref`` (None: not a stage)."""
        stage = self.plan.find(ref) if self.plan else None
        if stage is None:
            return None
        if stage.index >= current:
            raise InvalidArgument(f"circular dependency detected on stage: {ref}")
        return self.results[stage.index]

    # -- step containers -------------------------------------------------------------------
    def host_config(self, network: str = "") -> dict[str, Any]:
        """The HostConfig of a step's container (Docker's ``hostConfigFromOptions``)."""
        return {**self.opts.resources, "NetworkMode": network or self.opts.network_mode or "none",
                "ExtraHosts": list(self.opts.extra_hosts) or None}

    def create_container(self, config: dict[str, Any], host_config: dict[str, Any]) -> str:
        """Create (not start) the step's container; print Docker's `` ---> Running in``.

        Returns:
            The container id (its snapshot key).
        """
        cid = self.runner.create(config, host_config)
        self.tmp_containers.append(cid)
        self.out(f" ---> Running in {cid[:12]}\n")
        return cid

    def remove_containers(self, failed: bool) -> None:
        """Docker's per-step ``RemoveAll``: with ``forcerm`` always, with ``rm`` on success.

        A removal error is reported in the stream and leaves the rest, as Docker does.
        """
        gone = self.cancelled is not None and self.cancelled.is_set()
        if not (self.opts.forcerm or gone or (self.opts.rm and not failed)):
            return
        while self.tmp_containers:
            cid = self.tmp_containers[0]
            try:
                self.runner.remove(cid)
            except EngineError as exc:
                self.out(f"Error removing intermediate container {cid[:12]}: {exc}\n")
                return
            self.tmp_containers.pop(0)
            self.out(f"Removing intermediate container {cid[:12]}\n")

    # -- committing ------------------------------------------------------------------------
    def probe(self, state: StageState, container_config: dict[str, Any]) -> bool:
        """Use a cached image for this step when there is one."""
        if self.opts.nocache:
            return False
        if self.cache_sources is None:
            self.cache_sources = cache.sources(self.images, self.opts.cache_from)
        hit = cache.lookup(self.images, state.image_id, container_config, self.cache_sources or None)
        if hit is None:
            return False
        self.out(" ---> Using cache\n")
        state.image_id = hit
        return True

    def run_config(self, state: StageState) -> dict[str, Any]:
        cfg = dict(state.config)
        cfg["Image"] = state.image_id
        return cfg

    def commit_config(self, state: StageState, comment: str) -> str:
        """A metadata-only step: same layers, new config, an empty-layer history entry."""
        cc = self.run_config(state)
        cc["Cmd"] = state.shell + ["#(nop) ", comment]
        if self.probe(state, cc):
            return state.image_id
        if state.image_id:  # Docker creates one on scratch too; a hako container needs an image
            self.create_container(cc, self.host_config())
        history = {"created_by": " ".join(cc["Cmd"])}
        if state.maintainer:
            history["author"] = state.maintainer
        img = self.images.commit_config(parent=state.image_id or None, config=self.run_config(state),
                                         history=history, container_config=cc, **self._epoch())
        state.image_id = img.id
        return img.id

    def commit_snapshot(self, state: StageState, key: str, cc: dict[str, Any], created_by: str,
                        container_id: str = "") -> str:
        img = self.images.commit_snapshot(
            key, parent=state.image_id or None, config=self.run_config(state),
            history={"created_by": created_by}, container_config=cc, container_id=container_id,
            author=state.maintainer, **self._epoch())
        state.image_id = img.id
        return img.id

    def _epoch(self) -> dict[str, int]:
        epoch = self.opts.source_date_epoch
        return {"source_date_epoch": epoch} if epoch is not None else {}

    def base_config(self, image: Any | None) -> dict[str, Any]:
        from hako.oci.imageconfig import default_container_config

        cfg = default_container_config()
        if image is not None:
            cfg.update(dict(image.config or {}))
        env = list(cfg.get("Env") or [])
        if "PATH" not in env_map(env):
            env.append(f"PATH={DEFAULT_PATH}")
        cfg["Env"] = env
        cfg["OpenStdin"] = False
        cfg["StdinOnce"] = False
        return cfg


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _label_node(labels: dict[str, str], line: int) -> ins.Label:
    pairs = tuple((k, labels[k]) for k in sorted(labels))
    text = "LABEL " + " ".join(f'"{k}"=\'{v}\'' for k, v in pairs)
    quoted = tuple((_quote(k), _quote(v)) for k, v in pairs)
    return ins.Label(line=line, end_line=line, original=text, pairs=quoted)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def build(builder: Builder) -> str | None:
    """Run a prepared build, streaming Docker's messages; tag on success.

    Returns:
        The image id, or None when the build failed (the error was emitted).
    """
    images, options, emit = builder.images, builder.opts, builder._emit
    try:
        image_id = builder.run()
        builder.out(f"Successfully built {_short(image_id)}\n")
        for tag in options.tags:
            name = images.tag(image_id, tag, "")
            builder.out(f"Successfully tagged {name}\n")
    except EngineError as exc:
        detail: dict[str, Any] = {"message": str(exc)}
        if isinstance(exc, BuildStepError) and exc.code is not None:
            detail = {"code": exc.code, "message": str(exc)}
        emit({"errorDetail": detail, "error": str(exc)})
        return None
    except Exception as exc:  # noqa: BLE001 - a bug must still end the stream with an error
        import logging

        logging.getLogger(__name__).exception("build failed")
        emit({"errorDetail": {"message": str(exc)}, "error": str(exc)})
        return None
    if options.quiet:
        emit({"stream": image_id + "\n"})
    return image_id


__all__ = ["BuildCancelled", "BuildOptions", "Builder", "BuildStepError", "DockerfileParseError", "Runner", "build",
           "set_env"]
