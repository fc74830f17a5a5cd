"""Which delivery to try next: pure bookkeeping, no I/O, no clock of its own.

Deliveries are queued per target (one worker's phone topic, one apprise URL), in event order. A
target has at most one attempt under way, and a failure backs off the whole target (exponential,
jittered): a dead SMS gateway is tried once per backoff, not once per message, and never holds up
another target.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dispatch.push.ledger import Delivery


@dataclass
class _Target:
    queue: deque[Delivery] = field(default_factory=deque)
    failures: int = 0
    next_at: float = 0.0
    busy: bool = False


def backoff_s(failures: int, retry_min_s: float, retry_max_s: float, rng: random.Random) -> float:
    """Delay before the next attempt after `failures` failures in a row (>= 1): uniform between
    retry_min_s and a cap that doubles per failure up to retry_max_s (full jitter above a floor,
    so a fleet of targets that failed together does not retry in step)."""
    cap = min(retry_max_s, retry_min_s * 2.0 ** min(failures - 1, 60))
    return rng.uniform(retry_min_s, max(retry_min_s, cap))


class Schedule:
    def __init__(self, retry_min_s: float, retry_max_s: float, rng: random.Random | None = None) -> None:
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._rng = rng or random.Random()
        self._targets: dict[str, _Target] = {}

    def __len__(self) -> int:
        return sum(len(t.queue) for t in self._targets.values())

    def add(self, target: str, delivery: Delivery) -> None:
        self._targets.setdefault(target, _Target()).queue.append(delivery)

    def due(self, now: float, ready: Callable[[str], bool]) -> list[tuple[str, Delivery]]:
        """The head of every idle target whose backoff has passed and whose channel is ready; each is
        now under way until `finished` or `drop`."""
        out = []
        for name, target in self._targets.items():
            if target.queue and not target.busy and target.next_at <= now and ready(name):
                target.busy = True
                out.append((name, target.queue[0]))
        return out

    def finished(self, target: str, now: float, ok: bool) -> float | None:
        """Record the attempt's outcome; on failure returns the backoff chosen."""
        t = self._targets[target]
        t.busy = False
        if ok:
            t.queue.popleft()
            t.failures, t.next_at = 0, 0.0
            self._forget_if_empty(target)
            return None
        t.failures += 1
        delay = backoff_s(t.failures, self.retry_min_s, self.retry_max_s, self._rng)
        t.next_at = now + delay
        return delay

    def drop(self, target: str) -> None:
        """The attempt under way can never succeed: the next delivery of the target goes at once."""
        t = self._targets[target]
        t.busy = False
        t.queue.popleft()
        t.failures, t.next_at = 0, 0.0
        self._forget_if_empty(target)

    def expire(self, older_than: float) -> list[tuple[str, Delivery]]:
        """Remove and return the queued deliveries (not the ones under way) made before `older_than`."""
        out = []
        for name, target in list(self._targets.items()):
            keep: deque[Delivery] = deque()
            for i, delivery in enumerate(target.queue):
                if delivery.event_at < older_than and not (i == 0 and target.busy):
                    out.append((name, delivery))
                else:
                    keep.append(delivery)
            target.queue = keep
            self._forget_if_empty(name)
        return out

    def reset(self, predicate: Callable[[str], bool]) -> None:
        """Forget the backoff of the matching targets (their channel just came back)."""
        for name, target in self._targets.items():
            if predicate(name):
                target.failures, target.next_at = 0, 0.0

    def next_wakeup(self) -> float | None:
        """The earliest backoff end among idle targets with something queued."""
        times = [t.next_at for t in self._targets.values() if t.queue and not t.busy and t.next_at > 0]
        return min(times) if times else None

    def items(self) -> Iterator[tuple[str, Delivery]]:
        for name, target in self._targets.items():
            for delivery in target.queue:
                yield name, delivery

    def _forget_if_empty(self, target: str) -> None:
        t = self._targets.get(target)
        if t is not None and not t.queue and not t.busy:
            del self._targets[target]
