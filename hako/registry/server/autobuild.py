"""Automated builds for ``hako registry serve --autobuild FILE`` (the seed's Trusted Builds).

For each repository the file lists, the registry watches one branch of a git remote. When the
branch gets a new commit (found by polling ``git ls-remote`` every ``--autobuild-poll``
seconds, or at once when ``POST /autobuild/hooks/<repository>`` is called, e.g. by a git
host's webhook), it asks a hakod (``--autobuild-daemon``) to build that exact commit
(``POST /build?remote=<git>#<sha>:<context>``) and to push each configured tag to this
registry. Builds run one at a time, in order. The file is JSON::

    [{"repository": "team/app", "git": "git://host/app.git", "branch": "main",
      "context": "", "dockerfile": "Dockerfile", "tags": ["latest", "{commit}"],
      "secret": "optional webhook secret"}]

``{commit}`` in a tag is the commit's first 12 hex digits. When the registry has auth, hakod
pushes as an internal account whose password exists only in this process (``auth.internal``).

On disk, under ``<root>/autobuild/``: ``builds/<id>.json`` (the build record, written
temp → fsync → rename at every state change) and ``builds/<id>.log`` (the build's output).
States: ``queued`` → ``running`` → ``succeeded`` | ``failed``. A registry killed mid-build
marks that build ``failed`` ("interrupted") when it starts again, and builds the commit anew.

Layer 4. May import: errors, support, registry.protocol.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import queue
import re
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlencode

from hako.errors import InvalidArgument
from hako.support import atomicfile

log = logging.getLogger("hako.registry.autobuild")
SCHEMA_VERSION = 1
_KEYS = {"repository", "git", "branch", "context", "dockerfile", "tags", "secret"}
_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_TAG_RE = re.compile(r"^[\w{][\w.{}-]{0,127}$")


@dataclass(frozen=True)
class Source:
    repository: str
    git: str
    branch: str = "main"
    context: str = ""
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ("latest",)
    secret: str = ""


@dataclass
class Build:
    id: str
    repository: str
    commit: str
    tags: list[str]
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    schema_version: int = SCHEMA_VERSION


def parse(text: str, origin: str = "autobuild") -> list[Source]:
    """Sources from the file's text.

    Raises:
        InvalidArgument: naming the file, the entry's index and the bad key.
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{origin}: not valid JSON: {exc}") from None
    if not isinstance(doc, list):
        raise InvalidArgument(f"{origin}: expected a list of repositories")
    out, seen = [], set()
    for i, item in enumerate(doc):
        where = f"{origin}: entry {i}"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where}: expected an object")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise InvalidArgument(f"{where}: unknown key {unknown[0]!r}")
        for key in ("repository", "git"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise InvalidArgument(f"{where}: {key!r} must be a non-empty string")
        if not item["git"].startswith(("git://", "http://", "https://", "git@")):
            raise InvalidArgument(f"{where}: 'git' must be a git://, http(s):// or git@ URL")
        src = Source(item["repository"], item["git"], item.get("branch", "main"),
                     item.get("context", ""), item.get("dockerfile", "Dockerfile"),
                     tuple(item.get("tags") or ("latest",)), item.get("secret", ""))
        if not _BRANCH_RE.match(src.branch) or ".." in src.branch:
            raise InvalidArgument(f"{where}: invalid 'branch' {src.branch!r}")
        bad = [t for t in src.tags if not isinstance(t, str) or not _TAG_RE.match(t)]
        if bad:
            raise InvalidArgument(f"{where}: invalid tag {bad[0]!r}")
        if src.repository in seen:
            raise InvalidArgument(f"{where}: repository {src.repository!r} is listed twice")
        seen.add(src.repository)
        out.append(src)
    return out


def remote_head(source: Source) -> str:
    """The commit the source's branch points at now (``git ls-remote``).

    Raises:
        OSError: git failed or the branch does not exist.
    """
    env = dict(os.environ, GIT_ALLOW_PROTOCOL="http:https:git:ssh", GIT_TERMINAL_PROMPT="0")
    try:
        res = subprocess.run(["git", "ls-remote", "--", source.git, f"refs/heads/{source.branch}"],
                             capture_output=True, timeout=60, env=env, check=True)
    except subprocess.SubprocessError as exc:
        raise OSError(f"git ls-remote {source.git}: {getattr(exc, 'stderr', b'').decode().strip()}") from exc
    line = res.stdout.decode().split("\n", 1)[0]
    if not line:
        raise OSError(f"{source.git}: no branch {source.branch!r}")
    return line.split()[0]


class Daemon:
    """The few Engine API calls an autobuild needs, over hakod's unix socket (or TCP)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def _conn(self) -> http.client.HTTPConnection:
        if self.address.startswith("unix://"):
            conn = http.client.HTTPConnection("localhost", timeout=3600)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.address[len("unix://"):])
            conn.sock = sock
            return conn
        return http.client.HTTPConnection(self.address.removeprefix("tcp://"), timeout=3600)

    def stream(self, method: str, path: str, out, headers: dict | None = None) -> None:
        """Run a streaming call; its JSON lines go to ``out`` as text.

        Raises:
            RuntimeError: the call failed (status or an ``error`` line), with its message.
        """
        conn = self._conn()
        try:
            conn.request(method, path, body=b"", headers={"Content-Length": "0", **(headers or {})})
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read().decode(errors="replace")
                try:
                    body = json.loads(body).get("message", body)
                except (ValueError, AttributeError):
                    pass
                raise RuntimeError(f"{method} {path.split('?')[0]}: {resp.status} {body}")
            for raw in resp:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if msg.get("error"):
                    raise RuntimeError(msg["error"])
                text = msg.get("stream") or msg.get("status") or ""
                if msg.get("id") and msg.get("status"):
                    text = f"{msg['id']}: {msg['status']}\n"
                out.write(text if text.endswith("\n") or not text else text + "\n")
                out.flush()
        finally:
            conn.close()


class AutoBuilder:
    """Watches the sources, queues a build per new commit and runs them one by one."""

    def __init__(self, root: str, sources: list[Source], daemon: Daemon, registry_host: str,
                 auth_header: str = "", poll: float = 60.0) -> None:
        self.dir = os.path.join(root, "autobuild", "builds")
        os.makedirs(self.dir, exist_ok=True)
        self.sources = {s.repository: s for s in sources}
        self.daemon, self.registry_host = daemon, registry_host
        self.auth_header, self.poll = auth_header, poll
        self._queue: queue.Queue[str] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._recover()

    # -- records -----------------------------------------------------------------------------
    def _path(self, build_id: str, ext: str = "json") -> str:
        return os.path.join(self.dir, f"{build_id}.{ext}")

    def _save(self, build: Build) -> None:
        atomicfile.write_json(self._path(build.id), asdict(build))

    def get(self, build_id: str) -> Build | None:
        if not re.fullmatch(r"[0-9a-f]{32}", build_id):
            return None
        try:
            with open(self._path(build_id)) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return None
        return Build(**{k: v for k, v in doc.items() if k in Build.__dataclass_fields__})

    def list(self) -> list[Build]:
        out = [self.get(n[:-5]) for n in os.listdir(self.dir) if n.endswith(".json")]
        return sorted((b for b in out if b is not None), key=lambda b: b.created)

    def log_text(self, build_id: str) -> str | None:
        if self.get(build_id) is None:
            return None
        try:
            with open(self._path(build_id, "log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _recover(self) -> None:
        for b in self.list():
            if b.status in ("queued", "running"):
                b.status, b.error, b.finished = "failed", "interrupted (registry restarted)", time.time()
                self._save(b)

    def _last_commit(self, repository: str) -> str:
        """The commit of the repository's newest build that did not fail, or was not merely
        interrupted (so an interrupted or failed commit is not retried forever, but a new one is)."""
        for b in reversed(self.list()):
            if b.repository == repository and b.error != "interrupted (registry restarted)":
                return b.commit
        return ""

    # -- triggering --------------------------------------------------------------------------
    def trigger(self, repository: str, secret: str = "") -> bool:
        """A webhook: check ``repository`` at once. False when unknown or the secret is wrong."""
        src = self.sources.get(repository)
        if src is None or (src.secret and secret != src.secret):
            return False
        self.check(src)
        return True

    def check(self, src: Source) -> Build | None:
        """Queue a build if the branch moved since the last build of the repository."""
        try:
            head = remote_head(src)
        except OSError as exc:
            log.warning("autobuild %s: %s", src.repository, exc)
            return None
        with self._lock:
            if head == self._last_commit(src.repository):
                return None
            tags = [t.replace("{commit}", head[:12]) for t in src.tags]
            build = Build(uuid.uuid4().hex, src.repository, head, tags)
            self._save(build)
        self._queue.put(build.id)
        return build

    # -- threads -----------------------------------------------------------------------------
    def start(self) -> None:
        threading.Thread(target=self._poller, name="autobuild-poll", daemon=True).start()
        threading.Thread(target=self._worker, name="autobuild-work", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put("")

    def _poller(self) -> None:
        while not self._stop.is_set():
            for src in list(self.sources.values()):
                self.check(src)
            self._stop.wait(self.poll)

    def _worker(self) -> None:
        while not self._stop.is_set():
            build_id = self._queue.get()
            build = self.get(build_id) if build_id else None
            if build is not None:
                self._run(build)

    def _run(self, build: Build) -> None:
        src = self.sources[build.repository]
        build.status, build.started = "running", time.time()
        self._save(build)
        target = f"{self.registry_host}/{build.repository}"
        fragment = f"#{build.commit}" + (f":{src.context}" if src.context else "")
        with open(self._path(build.id, "log"), "w") as out:
            try:
                query = urlencode([("remote", src.git + fragment), ("dockerfile", src.dockerfile),
                                   *[("t", f"{target}:{t}") for t in build.tags]])
                out.write(f"building {build.repository} at {build.commit}\n")
                self.daemon.stream("POST", f"/build?{query}", out)
                headers = {"X-Registry-Auth": self.auth_header} if self.auth_header else {}
                for tag in build.tags:
                    out.write(f"pushing {target}:{tag}\n")
                    self.daemon.stream("POST", f"/images/{quote(target, safe='/:')}/push?tag={quote(tag)}",
                                       out, headers)
                build.status = "succeeded"
            except (OSError, RuntimeError) as exc:
                out.write(f"error: {exc}\n")
                build.status, build.error = "failed", str(exc)
        build.finished = time.time()
        self._save(build)
        log.info("autobuild %s %s: %s", build.repository, build.commit[:12], build.status)


def registry_auth_header(user: str, password: str, host: str) -> str:
    """The ``X-Registry-Auth`` value hakod takes for a push."""
    doc = {"username": user, "password": password, "serveraddress": host}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
