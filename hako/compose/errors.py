"""Compose errors: one kind (invalid input) carrying where it came from.

May import: errors.
"""

from __future__ import annotations

from hako.errors import InvalidArgument


class ComposeError(InvalidArgument):
    """Invalid compose input; ``str()`` names the file, line and key path when known."""

    def __init__(self, message: str, file: str = "", line: int = 0, path: str = "") -> None:
        where = file + (f":{line}" if file and line else "")
        text = message
        if path:
            text = f"{path}: {text}" if not text.startswith(path) else text
        if where:
            text = f"{where}: {text}"
        super().__init__(text)
        self.file, self.line, self.path, self.reason = file, line, path, message
