"""The dependency graph of a project's services.

A service depends on what it names in ``depends_on``, ``links``, ``volumes_from``
(``service`` or ``service:mode``, not ``container:…``) and ``network_mode: service:X``.
``levels`` orders services for start (dependencies first); a cycle is an error naming the
chain and the file and line where it closes.

May import: errors (through .errors).
"""

from __future__ import annotations

from hako.compose.model import Project, Service


def dependencies(svc: Service) -> dict[str, tuple[str, ...]]:
    """Service name → the key path (from the service) that makes the dependency."""
    out: dict[str, tuple[str, ...]] = {}
    for i, link in enumerate(svc.get("links") or []):
        out.setdefault(link.split(":")[0], ("links", i))
    for i, vf in enumerate(svc.get("volumes_from") or []):
        if not vf.startswith("container:"):
            out.setdefault(vf.split(":")[0], ("volumes_from", i))
    mode = svc.get("network_mode") or ""
    if mode.startswith("service:"):
        out.setdefault(mode[len("service:"):], ("network_mode",))
    for key in ("ipc", "pid"):
        value = svc.get(key) or ""
        if value.startswith("service:"):
            out.setdefault(value[len("service:"):], (key,))
    for name in svc.depends_on:  # after the keys that imply a dependency: their line wins
        out.setdefault(name, ("depends_on", name))
    return out


def check(project: Project) -> None:
    """Undefined references and cycles.

    Raises:
        ComposeError: ``service "web" depends on undefined service "db"`` or
            ``dependency cycle detected: a -> b -> a``, with file and line.
    """
    marks = project.marks
    for name, svc in project.services.items():
        for dep, where in dependencies(svc).items():
            if dep not in project.services:
                optional = where[0] == "depends_on" and not svc.depends_on[dep].get("required",
                                                                                     True)
                if optional:
                    continue
                why = "depends on undefined service" if dep not in project.disabled else \
                    "depends on service"
                extra = "" if dep not in project.disabled else " which is disabled (profiles)"
                raise marks.error(f'service "{name}" {why} "{dep}"{extra}',
                                  ("services", name) + where)
    _cycles(project)


def _cycles(project: Project) -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        deps = dependencies(project.services[name])
        for dep, where in deps.items():
            if dep not in project.services:
                continue
            if state.get(dep) == 1:
                chain = stack[stack.index(dep):] + [dep]
                raise project.marks.error("dependency cycle detected: " + " -> ".join(chain),
                                          ("services", name) + where)
            if not state.get(dep):
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(project.services):
        if not state.get(name):
            visit(name)


def levels(project: Project, names: list[str] | None = None) -> list[list[str]]:
    """Services grouped so that each group depends only on earlier groups."""
    wanted = set(names if names is not None else project.services)
    deps = {n: {d for d in dependencies(project.services[n]) if d in wanted}
            for n in wanted}
    out: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(wanted):
        ready = sorted(n for n in wanted - placed if deps[n] <= placed)
        if not ready:  # a cycle; check() reports it properly
            ready = sorted(wanted - placed)
        out.append(ready)
        placed.update(ready)
    return out


def with_dependencies(project: Project, names: list[str]) -> list[str]:
    """``names`` plus everything they (transitively) depend on."""
    out: list[str] = []
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in out or n not in project.services:
            continue
        out.append(n)
        todo.extend(dependencies(project.services[n]))
    return out


def dependents(project: Project, name: str) -> list[str]:
    """Services that depend on ``name`` directly."""
    return [n for n, s in project.services.items() if name in dependencies(s)]
