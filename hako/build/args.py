"""Build arguments with Docker's scoping: meta ARGs (before the first FROM) are visible to
FROM lines only; a stage sees the ARGs it declares (a declaration without a default takes
the meta ARG's value); ``--build-arg`` overrides defaults; predefined proxy ARGs are usable
without a declaration; unused ``--build-arg`` names give Docker's warning.

Layer 5 (build). May import: nothing.
"""

from __future__ import annotations

PREDEFINED = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "SOURCE_DATE_EPOCH")


class BuildArgs:
    """Options given by the client plus what the Dockerfile declared so far."""

    def __init__(self, options: dict[str, str | None]) -> None:
        self.options = dict(options)
        self.meta: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def _value(self, name: str, default: str | None) -> str | None:
        if self.options.get(name) is not None:
            return self.options[name]
        return default

    def add_meta(self, name: str, default: str | None) -> None:
        self.meta[name] = self._value(name, default)
        self.referenced.add(name)

    def meta_env(self) -> dict[str, str]:
        """Variables a FROM line may use."""
        return {k: v for k, v in self.meta.items() if v is not None}

    def stage(self) -> "StageArgs":
        return StageArgs(self)

    def unused_warning(self) -> str:
        """Docker's ``[Warning] One or more build-args [A B] were not consumed`` (or "")."""
        left = sorted(k for k in self.options if k not in self.referenced and k not in PREDEFINED)
        if not left:
            return ""
        return f"[Warning] One or more build-args [{' '.join(left)}] were not consumed\n"


class StageArgs:
    """The ARGs declared in one stage."""

    def __init__(self, parent: BuildArgs) -> None:
        self.parent = parent
        self.declared: dict[str, str | None] = {}

    def declare(self, name: str, default: str | None) -> str | None:
        """Declare ``ARG name[=default]``; returns the value in effect (None: unset)."""
        if default is None and name in self.parent.meta:
            default = self.parent.meta[name]
        value = self.parent._value(name, default)
        self.declared[name] = value
        self.parent.referenced.add(name)
        return value

    def values(self, env_keys: set[str] = frozenset()) -> dict[str, str]:
        """Declared args with a value, plus given predefined ones, minus ENV-shadowed names."""
        out = {k: v for k, v in self.declared.items() if v is not None}
        for k in PREDEFINED:
            if k not in out and self.parent.options.get(k) is not None:
                out[k] = self.parent.options[k]
        return {k: v for k, v in out.items() if k not in env_keys}

    def cache_visible(self, name: str) -> bool:
        """Docker's IsReferencedOrNotBuiltin: predefined args stay out of the cache key
        unless the stage declared them."""
        return name in self.declared or name not in PREDEFINED
