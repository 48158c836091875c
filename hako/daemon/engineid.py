"""The engine ID of ``GET /info`` (Docker's ``ID``): a UUID made once per data root.

On disk: ``<data-root>/engine-id`` holds the UUID text (moby's file and format), written
atomically at the first start; later starts (and a restore of the data root) keep it.
Layer 6 (daemon). May import: support.
"""

from __future__ import annotations

import os
import uuid

from hako.support.atomicfile import write_bytes

FILENAME = "engine-id"


def load_or_create(data_root: str) -> str:
    """The engine ID stored under ``data_root``, made on first use.

    Raises:
        OSError: the data root cannot be read or written.
    """
    path = os.path.join(data_root, FILENAME)
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
        return str(uuid.UUID(text))
    except FileNotFoundError:
        pass
    except ValueError:
        pass  # a damaged file is replaced, as moby does
    value = str(uuid.uuid4())
    write_bytes(path, value.encode(), mode=0o600)
    return value
