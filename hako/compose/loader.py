"""Find, read and assemble a compose project: discovery, ``-f`` files merged in order,
``.env``/``--env-file``, ``COMPOSE_*`` variables, interpolation, validation, ``extends``,
``include``, profiles, and the seed's Fig v1 files (converted, with a warning).

``load_project(Options(...))`` returns a :class:`hako.compose.model.Project`; every error is
a :class:`ComposeError` naming the file, line and key path.

May import: errors, support (through the compose modules).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hako.compose import dotenv, fig, schema
from hako.compose.errors import ComposeError
from hako.compose.interpolate import interpolate
from hako.compose.merge import merge_documents, merge_mapping
from hako.compose.yamlfile import Marks, load

CANDIDATES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml",
             "docker-compose.override.yaml")
FIG = ("fig.yml", "fig.yaml")


@dataclass
class Options:
    """What the command line says about the project (compose v2's global flags)."""

    files: list[str] = field(default_factory=list)
    project_name: str = ""
    project_directory: str = ""
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = ""
    warn: Callable[[str], None] = lambda msg: None
    interpolate: bool = True


@dataclass
class Loaded:
    """A project document after merging, before the model is built."""

    doc: dict[str, Any]
    marks: Marks
    files: list[str]
    working_dir: str
    environment: dict[str, str]
    name: str


def find_files(cwd: str) -> list[str]:
    """Compose's discovery: the first candidate in ``cwd`` or a parent, plus its override.

    Raises:
        ComposeError: no file found (compose's "no configuration file provided: not found").
    """
    d = os.path.abspath(cwd)
    while True:
        for group in (CANDIDATES, FIG):
            for name in group:
                path = os.path.join(d, name)
                if os.path.isfile(path):
                    found = [path]
                    if group is CANDIDATES:
                        found += [os.path.join(d, o) for o in OVERRIDES
                                  if os.path.isfile(os.path.join(d, o))][:1]
                    return found
        parent = os.path.dirname(d)
        if parent == d:
            raise ComposeError("no configuration file provided: not found")
        d = parent


def _env(opts: Options, working_dir: str) -> dict[str, str]:
    """The interpolation environment: the caller's environment over the .env file(s)."""
    env: dict[str, str] = {}
    files = opts.env_files or [os.path.join(working_dir, ".env")]
    for path in files:
        path = os.path.join(opts.cwd or os.getcwd(), path)
        if not opts.env_files and not os.path.isfile(path):
            continue
        if os.path.isdir(path):
            raise ComposeError(f"{path} is a directory")
        env.update(dotenv.read(path, {**env, **opts.environ}))
    env.update(opts.environ)
    return env


def _initial_files(opts: Options) -> tuple[list[str], str]:
    cwd = opts.cwd or os.getcwd()
    files = list(opts.files)
    env_files = None
    if not files:
        # COMPOSE_FILE may come from the .env of --project-directory or the cwd
        base = os.path.join(cwd, opts.project_directory) if opts.project_directory else cwd
        env_files = _env(Options(environ=opts.environ, env_files=opts.env_files, cwd=cwd), base)
        if env_files.get("COMPOSE_FILE"):
            sep = env_files.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
            files = [f for f in env_files["COMPOSE_FILE"].split(sep) if f]
            files = [os.path.join(base, f) for f in files]
    if files:
        files = [f if f == "-" else os.path.abspath(os.path.join(cwd, f)) for f in files]
    else:
        files = find_files(os.path.join(cwd, opts.project_directory) if opts.project_directory
                           else cwd)
    if opts.project_directory:
        wd = os.path.abspath(os.path.join(cwd, opts.project_directory))
    elif files[0] == "-":
        wd = cwd
    else:
        wd = os.path.dirname(files[0])
    return files, wd


def read_file(path: str, env: Mapping[str, str], opts: Options, base_dir: str,
              marks: Marks) -> dict[str, Any]:
    """One file: YAML with marks, Fig v1 conversion, interpolation, validation, relative
    paths resolved against ``base_dir``, and its ``extends``.

    Raises:
        ComposeError: naming the file and line.
    """
    try:
        if path == "-":
            import sys

            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise ComposeError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from exc
    file_marks = Marks()
    doc = load(text, path, file_marks)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ComposeError("Top-level object must be a mapping", path, 1)
    if fig.is_v1(doc):
        opts.warn(f"{path}: Fig/v1 file format is deprecated; converted to the Compose "
                  "Specification (top-level services)")
        doc = fig.convert(doc, file_marks)
    if opts.interpolate:
        doc = interpolate(doc, env, file_marks, warn=opts.warn)
    schema.validate(doc, file_marks)
    if "version" in doc:
        opts.warn(f"{path}: the attribute `version` is obsolete, it will be ignored, "
                  "please remove it to avoid potential confusion")
    for name, svc in (doc.get("services") or {}).items():
        doc["services"][name] = resolve_paths(svc, base_dir)
    doc = _extends(doc, path, env, opts, base_dir, file_marks)
    marks.update(file_marks)
    return doc


def resolve_paths(svc: dict[str, Any], base: str) -> dict[str, Any]:
    """Normalise ``build`` and ``extends`` to mappings and make relative paths absolute."""
    svc = dict(svc)

    def absolute(p: str) -> str:
        p = os.path.expanduser(p)
        return os.path.normpath(os.path.join(base, p))

    if isinstance(svc.get("build"), str):
        svc["build"] = {"context": svc["build"]}
    if isinstance(svc.get("build"), dict):
        b = dict(svc["build"])
        ctx = b.get("context", ".")
        if "://" not in ctx and not ctx.startswith("git@"):
            b["context"] = absolute(ctx)
        svc["build"] = b
    if isinstance(svc.get("extends"), str):
        svc["extends"] = {"service": svc["extends"]}
    if isinstance(svc.get("extends"), dict) and svc["extends"].get("file"):
        svc["extends"] = {**svc["extends"], "file": absolute(svc["extends"]["file"])}
    if isinstance(svc.get("env_file"), str):
        svc["env_file"] = [svc["env_file"]]
    if isinstance(svc.get("env_file"), list):
        svc["env_file"] = [absolute(e) if isinstance(e, str) else {**e, "path": absolute(e["path"])}
                           for e in svc["env_file"]]
    if isinstance(svc.get("label_file"), str):
        svc["label_file"] = [svc["label_file"]]
    if isinstance(svc.get("label_file"), list):
        svc["label_file"] = [absolute(p) for p in svc["label_file"]]
    if isinstance(svc.get("volumes"), list):
        svc["volumes"] = [_resolve_volume(v, absolute) for v in svc["volumes"]]
    return svc


def _resolve_volume(v: Any, absolute: Callable[[str], str]) -> Any:
    if isinstance(v, str):
        parts = v.split(":")
        if len(parts) > 1 and (parts[0].startswith((".", "~")) or parts[0] in ("", ".")):
            parts[0] = absolute(parts[0])
            return ":".join(parts)
        return v
    if isinstance(v, dict) and v.get("type") == "bind" and v.get("source", "").startswith((".", "~")):
        return {**v, "source": absolute(v["source"])}
    return v


def _extends(doc: dict[str, Any], path: str, env, opts: Options, base_dir: str,
             marks: Marks) -> dict[str, Any]:
    services = doc.get("services") or {}
    done: dict[str, dict[str, Any]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in done:
            return done[name]
        svc = services[name]
        ext = svc.get("extends")
        if not ext:
            done[name] = svc
            return svc
        spath = ("services", name, "extends")
        target = ext["service"]
        if ext.get("file"):
            sub_marks = Marks()
            sub = read_file(ext["file"], env, opts, os.path.dirname(ext["file"]), sub_marks)
            base_svcs = sub.get("services") or {}
            if target not in base_svcs:
                raise marks.error(f"cannot extend service {target!r} in {ext['file']}: "
                                  "service not found", spath)
            base = base_svcs[target]
            marks.rebase(("services", target), ("services", name), sub_marks)
        else:
            if target not in services:
                raise marks.error(f"cannot extend service {target!r} in {path}: "
                                  "service not found", spath)
            if target in chain:
                raise marks.error("circular reference with extends: "
                                  + " -> ".join(chain + (target,)), spath)
            base = resolve(target, chain + (target,))
            marks.rebase(("services", target), ("services", name))
        own = {k: v for k, v in svc.items() if k != "extends"}
        merged = merge_mapping({k: v for k, v in base.items() if k != "extends"}, own)
        done[name] = merged
        return merged

    if services:
        doc["services"] = {n: resolve(n, (n,)) for n in services}
    return doc


def assemble(opts: Options) -> Loaded:
    """Read and merge every file of the project, with includes; no model yet.

    Raises:
        ComposeError: any loading or validation failure.
    """
    files, wd = _initial_files(opts)
    env = _env(opts, wd)
    marks = Marks()
    doc: dict[str, Any] = {}
    for path in files:
        one = read_file(path, env, opts, wd, marks)
        doc = merge_documents(doc, one) if doc else one
    doc = _includes(doc, env, opts, wd, marks)
    name = _project_name(opts, env, doc, wd)
    return Loaded(doc, marks, files, wd, env, name)


def _includes(doc: dict[str, Any], env, opts: Options, wd: str, marks: Marks) -> dict[str, Any]:
    for i, item in enumerate(doc.pop("include", None) or []):
        item = {"path": item} if isinstance(item, str) else dict(item)
        paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
        paths = [os.path.normpath(os.path.join(wd, p)) for p in paths]
        sub_dir = os.path.join(wd, item.get("project_directory") or os.path.dirname(paths[0]))
        env_files = item.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        sub_opts = Options(files=paths, project_directory=sub_dir, environ=env,
                           env_files=[os.path.join(wd, e) for e in env_files], cwd=wd,
                           warn=opts.warn, profiles=opts.profiles)
        sub = assemble(sub_opts)
        for section in ("services", "networks", "volumes", "secrets", "configs"):
            for name, value in (sub.doc.get(section) or {}).items():
                mine = doc[section] = doc.get(section) or {}
                if name in mine:
                    if section == "services" or mine[name] != value:
                        raise marks.error(f"{section}.{name} conflicts with imported resource",
                                          ("include", i))
                mine[name] = value
                marks.rebase((section, name), (section, name), sub.marks)
    return doc


_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def normalize_name(name: str) -> str:
    """Compose's project name normalisation: lowercase, only [a-z0-9_-], no leading -/_."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def _project_name(opts: Options, env: Mapping[str, str], doc: dict[str, Any], wd: str) -> str:
    for explicit in (opts.project_name, env.get("COMPOSE_PROJECT_NAME", "")):
        if explicit:
            if not _NAME_OK.match(explicit):
                raise ComposeError(
                    f'invalid project name "{explicit}": must consist only of lowercase '
                    "alphanumeric characters, hyphens, and underscores as well as start "
                    "with a letter or number")
            return explicit
    name = normalize_name(str(doc.get("name") or os.path.basename(wd.rstrip("/"))))
    if not name:
        raise ComposeError(f'project name must not be empty (directory "{wd}")')
    return name


def active_profiles(opts: Options, env: Mapping[str, str]) -> set[str]:
    """``--profile`` values, else ``COMPOSE_PROFILES`` (comma separated)."""
    if opts.profiles:
        return set(opts.profiles)
    return {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}


def load_project(opts: Options, wanted: list[str] | None = None, check: bool = True):
    """Load, normalise and check a project.

    Args:
        wanted: services named on the command line (enabled whatever their profiles).

    Returns:
        A :class:`hako.compose.model.Project`.

    Raises:
        ComposeError: naming the file, line and key path of the problem.
    """
    from hako.compose.checks import check_project
    from hako.compose.model import build_project

    loaded = assemble(opts)
    if loaded.doc.get("models"):
        raise loaded.marks.error("is not supported by hako compose", ("models",))
    project = build_project(loaded.name, loaded.working_dir, loaded.files, loaded.doc,
                            loaded.environment, loaded.marks,
                            active_profiles(opts, loaded.environment), wanted)
    if check:
        check_project(project)
    return project
