"""What happens to containers when hakod stops and starts (dockerd's ``--live-restore``).

- Without ``--live-restore`` (the default, as dockerd), a graceful shutdown (SIGTERM/SIGINT)
  stops every running container as ``docker stop`` would (paused ones are unpaused first),
  all at once, giving up after ``--shutdown-timeout`` seconds (default 15) and killing what
  is left. These stops are the daemon's, not the user's: the restart policy still applies
  when hakod starts again.
- With ``--live-restore``, containers keep running through a graceful shutdown and hakod
  re-adopts them when it starts.
- After a crash (``kill -9``) hakod re-adopts live containers in either mode: their shims
  outlive it (dockerd without live-restore would kill them; hako keeps what it can).
- At start, in either mode, an exited container whose policy asks for it (``always``,
  ``unless-stopped`` or ``on-failure`` under its limit) and that the user did not stop is
  started again, as moby's restore does (``ShouldRestart``).

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hako.daemon import restart as restartpolicy
from hako.daemon.state import Status

log = logging.getLogger("hakod")


async def shutdown(svc: Any, timeout: float) -> None:
    """Stop every running container (the daemon's stop, not a manual one)."""
    running = [c for c in svc.list() if c.state.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)]
    if not running:
        return
    log.info("stopping %d running containers (no --live-restore)", len(running))
    tasks = [asyncio.ensure_future(svc.stop_at_shutdown(c)) for c in running]
    done, pending = await asyncio.wait(tasks, timeout=timeout if timeout >= 0 else None)
    for task in pending:  # past --shutdown-timeout: force them
        task.cancel()
    for c in running:
        await svc.kill_at_shutdown(c)


async def start_at_boot(svc: Any) -> None:
    """Start the exited containers whose restart policy asks for it (in parallel)."""
    due = [c for c in svc.list() if c.state.status == Status.EXITED and restartpolicy.should_restart(
        c.host_config.get("RestartPolicy"), c.state.exit_code, c.state.manually_stopped,
        c.restart_count)]
    results = await asyncio.gather(*(svc.start(c.id) for c in due), return_exceptions=True)
    for c, res in zip(due, results):
        if isinstance(res, BaseException):
            log.warning("restarting %s at daemon start: %s", c.id[:12], res)
