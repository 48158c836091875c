"""Container state: the status machine and state.json.

Layer: runtime (3). May import: errors, support, linux.

On-disk layout under the runtime root (``--root``, default /run/hako-runtime)::

    <root>/<id>/state.json   {"schema_version": 1, "id", "pid", "start_time", "bundle",
                              "rootfs", "created", "status", "cgroups_path", "config"}
                             written atomically (temp, rename; no fsync, as runc)
    <root>/<id>/exec.fifo    exists between create and start; the init blocks opening it

Status transitions (runc's state_linux.go)::

    created → running → stopped        running ⇄ paused        created/paused → stopped

The stored status is refined when read: a gone (or zombie, or reused) init pid means
``stopped``; the exec fifo still existing means ``created``.
"""

from __future__ import annotations

import enum
import os
import time

from hako.errors import AlreadyExists, Conflict, ContainerNotFound, InvalidArgument

OCI_VERSION = "1.0.2-dev"
STATE_FILE = "state.json"
FIFO = "exec.fifo"


class Status(str, enum.Enum):
    """OCI container status."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.RUNNING: frozenset({Status.PAUSED, Status.STOPPED}),
    Status.PAUSED: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.STOPPED: frozenset(),
}


def rfc3339_nano(ns: int | None = None) -> str:
    """Format a time (ns since the epoch, default now) like Go's RFC3339Nano in UTC."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}".rstrip("0").rstrip(".") + "Z"


def validate_id(container_id: str) -> None:
    """Reject ids runc rejects (empty, path separators, odd characters).

    Raises:
        InvalidArgument: ``invalid id format: ID``.
    """
    ok = container_id and container_id not in (".", "..") and all(
        c.isalnum() or c in "_+-." for c in container_id)
    if not ok:
        raise InvalidArgument(f"invalid id format: {container_id}")


SCHEMA_VERSION = 1
_FIELDS = ("id", "bundle", "rootfs", "pid", "start_time", "created", "status",
           "cgroups_path", "config", "host_mounts")


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write temp → rename: a reader (or a restarted daemon, after any kill -9) sees the
    old file or the new one, never a torn one.

    No fsync, as runc's saveState: everything under the runtime root describes processes
    that an OS crash ends anyway, and on a disk-backed /run each fsync costs 1-30 ms on the
    start path (state.json at create and at start, the pid file)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Container:
    """One container's persisted state plus its state directory."""

    def __init__(self, id: str, state_dir: str, bundle: str = "", rootfs: str = "",
                 pid: int = 0, start_time: int = 0, created: str = "",
                 status: Status = Status.CREATED, cgroups_path: str = "",
                 config: dict | None = None, host_mounts: list | None = None) -> None:
        self.id, self.state_dir, self.bundle, self.rootfs = id, state_dir, bundle, rootfs
        self.pid, self.start_time, self.created = pid, start_time, created
        self.status, self.cgroups_path = Status(status), cgroups_path
        self.config = config or {}
        # [mount id, point] made in our mount namespace by a container without its own
        # (hostns.py): unmounted when it is deleted
        self.host_mounts = host_mounts or []

    @property
    def fifo_path(self) -> str:
        """Path of the exec fifo."""
        return os.path.join(self.state_dir, FIFO)

    def current_status(self) -> Status:
        """The stored status refined by looking at the init process and the fifo."""
        from hako.linux import proc

        if self.status == Status.STOPPED or not self.pid or not proc.is_alive(
                self.pid, self.start_time or None):
            return Status.STOPPED
        if self.status == Status.PAUSED:
            return Status.PAUSED
        return Status.CREATED if os.path.exists(self.fifo_path) else Status.RUNNING

    def transition(self, to: Status) -> None:
        """Move to ``to`` from the current status, or raise.

        Raises:
            Conflict: the move is not in TRANSITIONS.
        """
        now = self.current_status()
        if to not in TRANSITIONS[now]:
            raise Conflict(f"container {self.id} cannot go from {now.value} to {to.value}")
        self.status = to

    def save(self) -> None:
        """Write state.json atomically."""
        from hako.runtime import shim_wire  # the C accelerator only: json pulls in re

        doc = {name: getattr(self, name) for name in _FIELDS}
        doc["status"] = self.status.value
        doc["schema_version"] = SCHEMA_VERSION
        write_atomic(os.path.join(self.state_dir, STATE_FILE), shim_wire.dumps(doc).encode())

    def oci_state(self) -> dict:
        """The `state` command's JSON object (runc's field order)."""
        status = self.current_status()
        doc = {"ociVersion": OCI_VERSION, "id": self.id,
               "pid": 0 if status == Status.STOPPED else self.pid, "status": status.value,
               "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created,
               "owner": ""}
        annotations = self.config.get("annotations")
        if annotations:
            doc["annotations"] = annotations
        return doc


def state_dir(root: str, container_id: str) -> str:
    """<root>/<id> after validating the id."""
    validate_id(container_id)
    return os.path.join(root, container_id)


def new_state_dir(root: str, container_id: str) -> str:
    """Create <root>/<id> (mode 0711).

    Raises:
        AlreadyExists: ``container with id exists: ID``.
    """
    path = state_dir(root, container_id)
    os.makedirs(root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container with id exists: {container_id}") from None
    return path


def load(root: str, container_id: str) -> Container:
    """Read a container's state.json.

    Raises:
        ContainerNotFound: ``container does not exist`` (no state dir or file).
    """
    from hako.runtime import shim_wire  # the C accelerator only: json pulls in re

    path = state_dir(root, container_id)
    try:
        with open(os.path.join(path, STATE_FILE), "rb") as f:
            doc = shim_wire.loads(f.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        raise ContainerNotFound("container does not exist") from None
    return Container(state_dir=path, **{k: v for k, v in doc.items() if k in _FIELDS})


def list_ids(root: str) -> list[str]:
    """Ids of every container with a state dir under ``root`` (sorted)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE)))


def remove_state(container: Container) -> None:
    """Remove the container's state dir (state.json, exec.fifo), after detaching the
    mounts it made in our namespace (a container without a mount namespace)."""
    if container.host_mounts:
        from hako.runtime import hostns

        hostns.unmount(container.host_mounts)
    for name in (FIFO, STATE_FILE):
        try:
            os.unlink(os.path.join(container.state_dir, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(container.state_dir)
    except FileNotFoundError:
        pass
    except OSError:  # something else was left in it: shutil costs ms, so only now
        import shutil

        shutil.rmtree(container.state_dir, ignore_errors=True)
