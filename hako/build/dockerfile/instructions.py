"""Typed Dockerfile instructions, as the parser produces them (words not yet expanded).

Every instruction carries its line span and its source text (``Step n/m : <original>``).

Layer 5 (build). May import: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    chomp: bool = False
    expand: bool = True


@dataclass(frozen=True)
class Instruction:
    line: int
    end_line: int
    original: str

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True)
class From(Instruction):
    image: str = ""
    name: str = ""
    platform: str = ""


@dataclass(frozen=True)
class Run(Instruction):
    command: tuple[str, ...] = ()  # exec form: argv; shell form: one string
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    network: str = ""


@dataclass(frozen=True)
class Cmd(Instruction):
    command: tuple[str, ...] = ()
    json: bool = False


@dataclass(frozen=True)
class Entrypoint(Instruction):
    command: tuple[str, ...] = ()
    json: bool = False


@dataclass(frozen=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Arg(Instruction):
    pairs: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Maintainer(Instruction):
    name: str = ""


@dataclass(frozen=True)
class Expose(Instruction):
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Copy(Instruction):
    sources: tuple[str, ...] = ()
    dest: str = ""
    from_: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Add(Copy):
    checksum: str = ""
    keep_git_dir: bool = False


@dataclass(frozen=True)
class Volume(Instruction):
    paths: tuple[str, ...] = ()
    json: bool = False


@dataclass(frozen=True)
class User(Instruction):
    user: str = ""


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str = ""


@dataclass(frozen=True)
class Onbuild(Instruction):
    expression: str = ""  # the trigger's text, e.g. "RUN echo hi"


@dataclass(frozen=True)
class Stopsignal(Instruction):
    signal: str = ""


@dataclass(frozen=True)
class Healthcheck(Instruction):
    test: tuple[str, ...] = ()  # ("NONE",) or ("CMD", ...) or ("CMD-SHELL", "...")
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shell(Instruction):
    shell: tuple[str, ...] = ()
