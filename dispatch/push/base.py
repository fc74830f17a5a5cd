"""The one interface every push transport implements, and what it is handed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ingest.wire.dispatch import NotifyMessage


class DeliveryError(Exception):
    """This attempt failed; the pusher retries it later (the message itself is fine)."""


class UndeliverableError(DeliveryError):
    """No retry can succeed (a malformed channel URL, a topic a worker id cannot form): dropped."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery as a channel sees it. `key` is the delivery's, stable across retries, so a
    channel may recognise a retry of something it already has under way."""

    key: str
    message: NotifyMessage  # with the snapshot when the pusher was told to include it


class Channel(Protocol):
    kind: str  # "mqtt" | "apprise": the lane it runs in, the prefix of its counters

    def ready(self) -> bool:
        """False while no attempt can succeed (the broker is away): the pusher does not try then."""
        ...

    def deliver(self, address: str, outgoing: Outgoing) -> None:
        """Deliver to `address` (a worker id, an apprise URL); returns once the far side acknowledged,
        raises DeliveryError otherwise. Blocking; called from the pusher's worker threads."""
        ...

    def close(self) -> None: ...
