"""Container records: config, host config, runtime state; the name registry; prefix lookup.

On-disk layout (data root)::

    containers/<id>/config.v2.json   the whole record, written atomically (schema_version 1)
    containers/<id>/hostname, hosts, resolv.conf
    containers/<id>/<id>-json.log    json-file log (written by the shim), rotated to .1, .2 (.gz)
    containers/<id>/local-logs/      the local driver's log (daemon/logconfig.py)

A record is rewritten after every state change, so a daemon killed at any instant reloads a
consistent set of containers (``ContainerStore.load_all``).
"""

from __future__ import annotations

import asyncio
import enum
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hako.daemon.health import Health
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


# Allowed transitions: from → set of to. Who makes each move (ContainerService):
#   created/exited → running        start (exited → running also for a policy restart)
#   running → paused → running        pause / unpause
#   running/paused → exited           the shim reported the exit
#   running/paused → restarting       the exit, when the restart policy asks for a restart
#   restarting → running / exited     the policy's start / stop, kill or rm -f meanwhile
#   exited → restarting               restore: died while the daemon was away, policy applies
#   created/exited/dead → removing    rm (a running container is killed and exits first)
#   removing → dead                   the removal failed (or the daemon died during it)
#   removing → created/exited         never taken today; kept for a removal given up early
#   dead → removing                   rm of a dead container
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.RUNNING, Status.EXITED, Status.REMOVING, Status.DEAD}),
    Status.RUNNING: frozenset({Status.PAUSED, Status.EXITED, Status.RESTARTING, Status.DEAD}),
    Status.PAUSED: frozenset({Status.RUNNING, Status.EXITED, Status.RESTARTING, Status.DEAD}),
    Status.RESTARTING: frozenset({Status.RUNNING, Status.EXITED, Status.DEAD}),
    Status.EXITED: frozenset({Status.RUNNING, Status.RESTARTING, Status.REMOVING, Status.DEAD}),
    Status.REMOVING: frozenset({Status.DEAD, Status.EXITED, Status.CREATED}),
    Status.DEAD: frozenset({Status.REMOVING}),
}
_TRANSITIONS = TRANSITIONS


def can_transition(frm: Status, to: Status) -> bool:
    """Whether the state machine allows ``frm`` → ``to`` (staying put is always allowed)."""
    return frm == to or to in TRANSITIONS[frm]


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
    health: Health | None = None  # set at the first start of a container with a probe
    # stopped or killed by the user (moby's HasBeenManuallyStopped): no restart by its policy,
    # neither after the exit nor when the daemon starts again
    manually_stopped: bool = False

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
    # mount points (daemon/mounts.py): Docker's MountPoint fields plus hako's bookkeeping
    mounts: list[dict[str, Any]] = field(default_factory=list)
    # Serialises lifecycle operations (start, stop, kill, pause, rm, exec, exit handling) on
    # the event loop; never held across a wait for the container's exit.
    op_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)
    removed: bool = field(default=False, repr=False, compare=False)  # record deleted
    # record writes: the newest snapshot wins, whatever order executor threads run in
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _save_seq: int = field(default=0, repr=False, compare=False)
    _written_seq: int = field(default=0, repr=False, compare=False)

    @property
    def log_path(self) -> str:
        """The live log file of the container's log driver ("" for the none driver)."""
        from hako.daemon import logconfig

        return logconfig.log_path(self.root, self.id, logconfig.driver(self.host_config))

    def file(self, name: str) -> str:
        return os.path.join(self.root, name)

    def transition(self, to: Status) -> None:
        """Move to ``to``.

        Raises:
            Conflict: the move is not allowed from the current status.
        """
        if to == self.state.status:
            return
        if to not in TRANSITIONS[self.state.status]:
            raise Conflict(f"cannot transition container {self.id[:12]} from {self.state.status.value} to {to.value}")
        self.state.status = to

    def to_doc(self) -> dict[str, Any]:
        s = self.state
        return {
            "id": self.id, "name": self.name, "created": self.created, "image": self.image,
            "image_ref": self.image_ref, "path": self.path, "args": self.args, "config": self.config,
            "host_config": self.host_config, "runtime": self.runtime,
            "restart_count": self.restart_count, "networking": self.networking,
            "mounts": self.mounts,
            "state": {"status": s.status.value, "pid": s.pid, "exit_code": s.exit_code,
                      "error": s.error, "oom_killed": s.oom_killed, "started_at": s.started_at,
                      "finished_at": s.finished_at, "shim_pid": s.shim_pid,
                      "health": s.health.to_doc() if s.health is not None else None,
                      "manually_stopped": s.manually_stopped},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], root: str) -> "Container":
        st = doc.get("state", {})
        state = State(
            status=Status(st.get("status", "created")), pid=st.get("pid", 0),
            exit_code=st.get("exit_code", 0), error=st.get("error", ""),
            oom_killed=st.get("oom_killed", False), started_at=st.get("started_at", ZERO_TIME),
            finished_at=st.get("finished_at", ZERO_TIME), shim_pid=st.get("shim_pid", 0),
            health=Health.from_doc(st.get("health")),
            manually_stopped=bool(st.get("manually_stopped", False)))
        return cls(
            id=doc["id"], name=doc["name"], created=doc["created"], image=doc["image"],
            image_ref=doc.get("image_ref", doc["image"]), path=doc["path"], args=doc["args"],
            config=doc["config"], host_config=doc["host_config"], root=root,
            runtime=doc.get("runtime", "hako"), state=state,
            restart_count=doc.get("restart_count", 0), networking=doc.get("networking", {}),
            mounts=doc.get("mounts") or [])


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
        from hako.support.fsflags import mark_topdir

        mark_topdir(root)  # one directory per container: spread them (see fsflags)
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

    def snapshot(self, c: Container) -> tuple[dict[str, Any], int]:
        """The record as it is now, numbered; pass both to :meth:`write` (in any thread)."""
        with self._lock:
            c._save_seq += 1
            return c.to_doc(), c._save_seq

    def write(self, c: Container, doc: dict[str, Any], seq: int) -> None:
        """Write a snapshot of ``c`` (blocking: temp file, fsync, rename). A snapshot older
        than one already written, or of a deleted container, is dropped."""
        with c._write_lock:
            if c.removed or seq <= c._written_seq:
                return
            atomicfile.write_json(os.path.join(c.root, "config.v2.json"), doc, SCHEMA_VERSION)
            c._written_seq = seq

    def save(self, c: Container) -> None:
        """Write the record now (blocking; the event loop uses snapshot + write in a thread)."""
        self.write(c, *self.snapshot(c))

    def delete(self, c: Container) -> None:
        with self._lock:
            self._by_id.pop(c.id, None)
            if self._names.get(c.name) == c.id:
                self._names.pop(c.name, None)
        with c._write_lock:
            c.removed = True
            # one rename makes the record vanish whole; the files go after (a crash
            # between leaves a ``.removed-`` directory that load_all sweeps)
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
            # a name is reserved before its container is added (create in progress)
            named = self._by_id.get(self._names.get(name, ""))
            if named is not None:
                return named
            cid = ids.match_prefix(ref, list(self._by_id))
            if cid:
                return self._by_id[cid]
        raise ContainerNotFound(f"No such container: {ref}")
