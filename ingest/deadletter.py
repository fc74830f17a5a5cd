"""Dead letters: a rejected payload goes to `grid/deadletter/{edge_id}` with its reason, and is counted.

The sink never raises: a dead letter that cannot be published is logged and counted, and
the worker goes on. Logs do not flood: the first rejection of each category is a WARNING,
later ones of the same category are DEBUG (the counts tell the rest).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from ingest.decode import category
from ingest.topics import Topics
from ingest.wire.deadletter import DeadLetter

log = logging.getLogger(__name__)

PUBLISH_FAILED = "publish failed"


class DeadLetterSink:
    def __init__(self, publish: Callable[[str, bytes], object], topics: Topics, edge_id: str) -> None:
        """`publish(topic, payload)`; a return of False (as MqttConnection.publish gives) is a failure."""
        self._publish = publish
        self.topic = topics.deadletter(edge_id)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.publish_failures = 0

    @property
    def counts(self) -> dict[str, int]:
        """Rejections by reason category (the part of the reason before the first ':')."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reject(self, topic: str, reason: str, payload: bytes, at: datetime) -> None:
        """Count, log (once per category at WARNING) and publish one dead letter. Never raises."""
        try:
            self._reject(topic, reason, payload, at)
        except Exception:  # a dead letter must never take the worker down
            log.exception("dead letter for %s could not be handled", topic)

    def _reject(self, topic: str, reason: str, payload: bytes, at: datetime) -> None:
        kind = category(reason)
        with self._lock:
            seen = self._counts.get(kind, 0)
            self._counts[kind] = seen + 1
        level = logging.DEBUG if seen else logging.WARNING
        if log.isEnabledFor(level):
            suffix = "" if seen else " (further ones of this kind are logged at DEBUG)"
            log.log(level, "dead letter from %s: %s%s", topic, reason, suffix)
        letter = DeadLetter(topic=topic, reason=reason, payload_excerpt=DeadLetter.excerpt(payload), ts=at)
        body = letter.model_dump_json().encode()
        try:
            ok = self._publish(self.topic, body)
        except Exception as exc:
            ok = False
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = "the client refused it (queue full?)"
        if ok is False:
            self._publish_failed(error)

    def _publish_failed(self, error: str) -> None:
        with self._lock:
            self.publish_failures += 1
            first = self.publish_failures == 1
        log.log(logging.WARNING if first else logging.DEBUG, "dead letter not published on %s: %s", self.topic, error)
