"""Restart policy strings (``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``)."""

from __future__ import annotations

from dataclasses import dataclass

from hako.errors import InvalidArgument

NAMES = ("no", "always", "on-failure", "unless-stopped")


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0


def parse(text: str) -> RestartPolicy:
    """Parse a ``--restart`` value the way the docker CLI does (syntax only).

    Raises:
        InvalidArgument: docker's messages for a bad format.
    """
    if text == "":
        return RestartPolicy("no")
    name, sep, count = text.partition(":")
    if sep and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError as exc:
            raise InvalidArgument(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from exc
    return RestartPolicy(name, retries)


def validate(policy: RestartPolicy) -> None:
    """Daemon-side validation with dockerd's messages.

    Raises:
        InvalidArgument: unknown name, negative count, or a count without on-failure.
    """
    if policy.name in ("", "no", "always", "unless-stopped"):
        if policy.maximum_retry_count:
            raise InvalidArgument(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            )
        return
    if policy.name == "on-failure":
        if policy.maximum_retry_count < 0:
            raise InvalidArgument(
                "invalid restart policy: maximum retry count cannot be negative"
            )
        return
    raise InvalidArgument(
        f"invalid restart policy: unknown policy '{policy.name}'; use one of 'no', 'always', "
        "'on-failure', or 'unless-stopped'"
    )
