"""Multi-stage structure: meta ARGs, stages (FROM … AS name), --target, COPY --from checks.

Stages are numbered from 0 in file order; a stage is addressable by its (lower-cased) name
or its index. The legacy builder builds every stage up to the target, in order.

Layer 5 (build). May import: errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.parser import DockerfileParseError
from hako.errors import InvalidArgument


@dataclass
class Stage:
    index: int
    name: str
    source: ins.From
    commands: list[ins.Instruction] = field(default_factory=list)


@dataclass
class Plan:
    meta_args: list[ins.Arg]
    stages: list[Stage]

    def find(self, ref: str) -> Stage | None:
        """The stage named ``ref`` (case-insensitive) or with index ``ref``."""
        ref = ref.lower()
        for s in self.stages:
            if s.name and s.name == ref:
                return s
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    @property
    def total_steps(self) -> int:
        return len(self.meta_args) + sum(1 + len(s.commands) for s in self.stages)


def split(instructions: list[ins.Instruction]) -> Plan:
    """Group instructions into meta ARGs and stages.

    Raises:
        DockerfileParseError: an instruction before the first FROM other than ARG, duplicate
            stage names, or no FROM at all.
    """
    meta: list[ins.Arg] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for node in instructions:
        if isinstance(node, ins.From):
            if node.name:
                if node.name in names:
                    raise DockerfileParseError(node.line, f"duplicate name {node.name}")
                names.add(node.name)
            stages.append(Stage(len(stages), node.name, node))
        elif not stages:
            if not isinstance(node, ins.Arg):
                raise DockerfileParseError(node.line, "no build stage in current context")
            meta.append(node)
        else:
            stages[-1].commands.append(node)
    if not stages:
        raise InvalidArgument("the Dockerfile (Dockerfile) cannot be empty" if not instructions
                              else "Please provide a source image with `from` prior to commit")
    return Plan(meta, stages)


def truncate(plan: Plan, target: str) -> Plan:
    """Keep the stages up to ``target`` (all when empty).

    Raises:
        InvalidArgument: Docker's ``failed to reach build target X in Dockerfile``.
    """
    if not target:
        return plan
    stage = plan.find(target)
    if stage is None or (target.isdigit() and stage.name != target.lower() and not stage.name == ""):
        stage = next((s for s in plan.stages if s.name == target.lower()), None)
    if stage is None:
        raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
    return Plan(plan.meta_args, plan.stages[: stage.index + 1])


def check_references(plan: Plan) -> None:
    """Refuse ``COPY --from`` that names the stage itself or a later stage (a cycle).

    Raises:
        DockerfileParseError: ``circular dependency detected on stage: X`` at the COPY line.
    """
    for stage in plan.stages:
        for node in stage.commands:
            if not isinstance(node, ins.Copy) or not node.from_ or "$" in node.from_:
                continue
            ref = plan.find(node.from_)
            if ref is not None and ref.index >= stage.index:
                label = stage.name or str(stage.index)
                raise DockerfileParseError(node.line, f"circular dependency detected on stage: {label}")
