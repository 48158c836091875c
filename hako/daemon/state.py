"""Container records: config, host config, runtime state; the name registry; prefix lookup.

On-disk layout (data root)::

    containers/<id>/config.v2.json   the whole record, written atomically (schema_version 1)
    containers/<id>/hostname, hosts, resolv.conf
    containers/<id>/<id>-json.log    json-file log (written by the shim)

A record is rewritten after every state change, so a daemon killed at any instant reloads a
consistent set of containers (``ContainerStore.load_all``).
"""

from __future__ import annotations

import enum
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hako.errors import AlreadyExists, Conflict, ContainerNotFound, InvalidArgument
from hako.support import atomicfile, ids

SCHEMA_VERSION = 1
ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """Current UTC time as RFC3339 with nanoseconds, like Go's time.RFC3339Nano."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}Z"


class Status(str, enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


# allowed transitions: from → set of to
_TRANSITIONS: dict[Status, set[Status]] = {
    Status.CREATED: {Status.RUNNING, Status.EXITED, Status.REMOVING, Status.DEAD},
    Status.RUNNING: {Status.PAUSED, Status.EXITED, Status.RESTARTING, Status.DEAD},
    Status.PAUSED: {Status.RUNNING, Status.EXITED, Status.DEAD},
    Status.RESTARTING: {Status.RUNNING, Status.EXITED, Status.DEAD},
    Status.EXITED: {Status.RUNNING, Status.RESTARTING, Status.REMOVING, Status.DEAD},
    Status.REMOVING: {Status.DEAD, Status.EXITED, Status.CREATED},
    Status.DEAD: {Status.REMOVING},
}


@dataclass
class State:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    shim_pid: int = 0

    @property
    def running(self) -> bool:
        return self.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)


@dataclass
class Container:
    """One container. ``config``/``host_config`` hold Docker's API structures as created."""

    id: str
    name: str
    created: str
    image: str  # image id, sha256:...
    image_ref: str  # what the user asked for (Config.Image)
    path: str
    args: list[str]
    config: dict[str, Any]
    host_config: dict[str, Any]
    root: str  # containers/<id>
    runtime: str = "hako"
    state: State = field(default_factory=State)
    restart_count: int = 0
    networking: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, f"{self.id}-json.log")

    def file(self, name: str) -> str:
        return os.path.join(self.root, name)

    def transition(self, to: Status) -> None:
        """Move to ``to``.

        Raises:
            Conflict: the move is not allowed from the current status.
        """
        if to == self.state.status:
            return
        if to not in _TRANSITIONS[self.state.status]:
            raise Conflict(f"cannot transition container {self.id[:12]} from {self.state.status.value} to {to.value}")
        self.state.status = to

    def to_doc(self) -> dict[str, Any]:
        s = self.state
        return {
            "id": self.id, "name": self.name, "created": self.created, "image": self.image,
            "image_ref": self.image_ref, "path": self.path, "args": self.args, "config": self.config,
            "host_config": self.host_config, "runtime": self.runtime,
            "restart_count": self.restart_count, "networking": self.networking,
            "state": {"status": s.status.value, "pid": s.pid, "exit_code": s.exit_code,
                      "error": s.error, "oom_killed": s.oom_killed, "started_at": s.started_at,
                      "finished_at": s.finished_at, "shim_pid": s.shim_pid},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], root: str) -> "Container":
        st = doc.get("state", {})
        state = State(
            status=Status(st.get("status", "created")), pid=st.get("pid", 0),
            exit_code=st.get("exit_code", 0), error=st.get("error", ""),
            oom_killed=st.get("oom_killed", False), started_at=st.get("started_at", ZERO_TIME),
            finished_at=st.get("finished_at", ZERO_TIME), shim_pid=st.get("shim_pid", 0))
        return cls(
            id=doc["id"], name=doc["name"], created=doc["created"], image=doc["image"],
            image_ref=doc.get("image_ref", doc["image"]), path=doc["path"], args=doc["args"],
            config=doc["config"], host_config=doc["host_config"], root=root,
            runtime=doc.get("runtime", "hako"), state=state,
            restart_count=doc.get("restart_count", 0), networking=doc.get("networking", {}))


def validate_name(name: str) -> str:
    """Return the name without its leading slash.

    Raises:
        InvalidArgument: Docker's "Invalid container name" message.
    """
    if not ids.NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


class ContainerStore:
    """In-memory index of containers backed by one directory per container."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.RLock()

    def load_all(self) -> list[Container]:
        """Read every container record; unreadable ones are skipped and reported.

        A directory without any record is what a create interrupted before its record was
        written leaves behind (the record is written last): it is removed.
        """
        import logging

        for entry in sorted(os.listdir(self.root)):
            if entry.startswith(".removed-"):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
                continue
            path = os.path.join(self.root, entry, "config.v2.json")
            if not os.path.exists(path) and os.path.isdir(os.path.join(self.root, entry)):
                logging.getLogger("hako.state").info("removing half-created container %s", entry)
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
                continue
            try:
                c = Container.from_doc(atomicfile.read_json(path), os.path.join(self.root, entry))
            except (OSError, ValueError, KeyError) as exc:
                logging.getLogger("hako.state").warning("skipping container %s: %s", entry, exc)
                continue
            self._by_id[c.id] = c
            self._names[c.name] = c.id
        return list(self._by_id.values())

    def new_dir(self, cid: str) -> str:
        path = os.path.join(self.root, cid)
        os.makedirs(path, mode=0o710, exist_ok=True)
        return path

    def reserve_name(self, name: str, cid: str) -> None:
        """Claim ``name`` for ``cid``.

        Raises:
            AlreadyExists: Docker's name conflict message.
        """
        with self._lock:
            owner = self._names.get(name)
            if owner and owner != cid:
                raise AlreadyExists(
                    f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
                    "You have to remove (or rename) that container to be able to reuse that name.")
            self._names[name] = cid

    def release_name(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)

    def names(self) -> set[str]:
        return set(self._names)

    def add(self, c: Container) -> None:
        with self._lock:
            self._by_id[c.id] = c
        self.save(c)

    def save(self, c: Container) -> None:
        atomicfile.write_json(os.path.join(c.root, "config.v2.json"), c.to_doc(), SCHEMA_VERSION)

    def delete(self, c: Container) -> None:
        with self._lock:
            self._by_id.pop(c.id, None)
            if self._names.get(c.name) == c.id:
                self._names.pop(c.name, None)
        # one rename makes the record vanish whole; the files go after (a crash between
        # leaves a ``.removed-`` directory that load_all sweeps)
        trash = os.path.join(os.path.dirname(c.root), f".removed-{os.path.basename(c.root)}")
        try:
            os.rename(c.root, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def all(self) -> list[Container]:
        with self._lock:
            return sorted(self._by_id.values(), key=lambda c: c.created, reverse=True)

    def get(self, ref: str) -> Container:
        """Find by full id, name (with or without /), or unique id prefix.

        Raises:
            ContainerNotFound: ``No such container: <ref>``.
            AmbiguousPrefix: the prefix matches several containers.
        """
        with self._lock:
            if ref in self._by_id:
                return self._by_id[ref]
            name = ref.lstrip("/")
            if name in self._names:
                return self._by_id[self._names[name]]
            cid = ids.match_prefix(ref, list(self._by_id))
            if cid:
                return self._by_id[cid]
        raise ContainerNotFound(f"No such container: {ref}")
