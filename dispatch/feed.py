"""The alert feed hub: one reader of the store fans each new FeedEvent out to every open screen.

Many screens listen at once (`GET /api/v1/feed`), so they must not each query SQLite per
change. The store calls us after each commit (from whatever thread committed); one task on
the event loop then reads the new events once, encodes each once as a Server-Sent Event, keeps
it in a ring for quick resumes and puts it on every subscriber's bounded queue.

A subscriber that falls behind (its queue is full: a slow screen) is not waited for and loses
nothing: it is marked for a resync and re-reads from the store from the last event it sent.
Every subscriber drops what it has already sent (by seq), which is what makes the hand-over
between a catch-up read and the live queue free of gaps and duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from ingest.wire.dispatch import FeedEvent

log = logging.getLogger(__name__)

RETRY_MS = 3000  # what an EventSource waits before it reconnects


class EventSource(Protocol):
    """What the hub needs of dispatch.store.AlertStore."""

    def events_after(self, seq: int, *, queues: Collection[str] | None = None, limit: int = 500) -> list[FeedEvent]:
        ...

    def last_seq(self) -> int:
        ...

    def add_listener(self, callback: Callable[[int], None]) -> None:
        ...

    def remove_listener(self, callback: Callable[[int], None]) -> None:
        ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One feed event, encoded once for every screen."""

    seq: int
    queue: str  # the alert's dispatch queue: a grid id or "unassigned"
    data: bytes  # `id: ...\nevent: ...\ndata: ...\n\n`

    @classmethod
    def of(cls, event: FeedEvent) -> Frame:
        text = f"id: {event.seq}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n"
        return cls(event.seq, event.alert.dispatch.queue, text.encode())


KEEPALIVE = b": keepalive\n\n"
MAX_BATCH = 64  # events in one write
HELLO = f"retry: {RETRY_MS}\n: connected\n\n".encode()


def visible(queues: frozenset[str] | None, queue: str) -> bool:
    return queues is None or queue in queues


@dataclass(eq=False)
class Subscription:
    """One open screen. `cursor` is the seq of the last event it was given; `resync` says that
    events may be missing from its queue, so it must read the store from `cursor` first."""

    queues: frozenset[str] | None
    cursor: int
    queue: asyncio.Queue[Frame | None]
    resync: bool = False
    backlog: list[Frame] = field(default_factory=list)  # from the ring, given before the queue


class FeedHub:
    def __init__(self, store: EventSource, *, ring_size: int = 2000, queue_size: int = 1000,
                 heartbeat_s: float = 15.0, page: int = 500, coalesce_s: float = 0.01) -> None:
        self.store = store
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s  # read at each wait, so tests may shorten it on a running hub
        self.page = page
        self.coalesce_s = coalesce_s  # the most a burst's events wait, so that they share a write
        self.stopping = False
        self._ring: deque[Frame] = deque(maxlen=ring_size)
        self._floor = 0  # the ring holds every event with a seq above this
        self._last = 0  # the newest seq read from the store
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._wake_scheduled = False
        self._reader: asyncio.Task[None] | None = None

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Capture the running loop and start reading; call once, from the app's lifespan."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()  # bound to this loop
        self.stopping = False
        # The listener first: a commit between it and last_seq() is then read, not missed.
        self.store.add_listener(self._on_commit)
        self._last = self._floor = await asyncio.to_thread(self.store.last_seq)
        self._reader = asyncio.create_task(self._read_forever(), name="feed-reader")

    async def stop(self) -> None:
        """End every open stream and the reader; safe to call twice (server shutdown, then lifespan)."""
        if self.stopping:
            return
        self.stopping = True
        self.store.remove_listener(self._on_commit)
        for sub in self._subs:
            _offer(sub.queue, None)  # wakes a stream waiting for its next event
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def last_seq(self) -> int:
        return self._last

    # -- reading the store ----------------------------------------------------------------------

    def _on_commit(self, seq: int) -> None:
        """Called by the store after each commit, from the committing thread: only schedule a read."""
        if self._wake_scheduled or self._loop is None or seq <= self._last:
            return  # a read is already due, and it will see this commit too
        self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._wake_now)
        except RuntimeError:  # the loop is closed: the server is gone
            self._wake_scheduled = False

    def _wake_now(self) -> None:
        self._wake_scheduled = False  # before the read: a commit from now on schedules another
        self._wake.set()

    async def _read_forever(self) -> None:
        while not self.stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                while True:
                    events = await asyncio.to_thread(self.store.events_after, self._last, limit=self.page)
                    if events:
                        self._publish([Frame.of(e) for e in events])
                    if len(events) < self.page:
                        break
                if events and self.coalesce_s > 0:
                    # Under a burst, let a few commits gather: one write per screen carries them all, so
                    # the event loop (which also answers the POSTs) is not spent on one send per commit.
                    await asyncio.sleep(self.coalesce_s)
            except asyncio.CancelledError:
                raise
            except Exception:  # the store is closing, or a bad row: keep serving, try at the next commit
                log.exception("the feed could not read new events after seq %d", self._last)
                await asyncio.sleep(0.5)

    def _publish(self, frames: list[Frame]) -> None:
        for frame in frames:
            if len(self._ring) == self._ring.maxlen:
                self._floor = self._ring[0].seq  # about to drop it
            self._ring.append(frame)
        self._last = frames[-1].seq
        for sub in self._subs:
            if sub.resync:
                continue  # it will read these from the store
            for frame in frames:
                if visible(sub.queues, frame.queue):
                    try:
                        sub.queue.put_nowait(frame)
                    except asyncio.QueueFull:
                        sub.resync = True  # a slow screen: never wait for it, let it catch up itself
                        break

    # -- subscribers ----------------------------------------------------------------------------

    def subscribe(self, queues: Collection[str] | None = None, after: int | None = None) -> Subscription:
        """A new screen that sees `queues` (None: all). `after`: replay every event with a higher
        seq first (Last-Event-ID); None: only what happens from now on."""
        sub = Subscription(None if queues is None else frozenset(queues), self._last if after is None else after,
                           asyncio.Queue(self.queue_size))
        if after is not None and after < self._last:
            if after >= self._floor:  # the ring has all of it; no store read
                sub.backlog = [f for f in self._ring if f.seq > after and visible(sub.queues, f.queue)]
            else:
                sub.resync = True
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    async def frames(self, sub: Subscription) -> AsyncIterator[bytes]:
        """The encoded events of one subscription, in seq order, each once; a keepalive comment
        after `heartbeat_s` of silence. Ends when the hub stops."""
        yield HELLO
        while not self.stopping:
            if sub.resync:
                sub.resync = False  # first: from now on the hub queues again, the read below covers the rest
                _drain(sub.queue)
                async for chunk in self._catch_up(sub):
                    yield chunk
                continue
            if sub.backlog:
                backlog, sub.backlog = sub.backlog, []
                if chunk := _take(sub, backlog):
                    yield chunk
                continue
            try:
                first = sub.queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(self.heartbeat_s):  # no task per wait, unlike wait_for
                        first = await sub.queue.get()
                except TimeoutError:
                    yield KEEPALIVE
                    continue
            # Whatever is queued goes out as one write: a burst costs one send, not one per event.
            batch = [first]
            while len(batch) < MAX_BATCH and not sub.queue.empty():
                batch.append(sub.queue.get_nowait())
            if chunk := _take(sub, batch):
                yield chunk

    async def _catch_up(self, sub: Subscription) -> AsyncIterator[bytes]:
        """Every event after sub.cursor that the store has now, a page per write."""
        while not self.stopping:
            events = await asyncio.to_thread(self.store.events_after, sub.cursor, queues=sub.queues, limit=self.page)
            # The same filter as the live path, so a replay shows what the live feed would have.
            if chunk := _take(sub, [f for f in map(Frame.of, events) if visible(sub.queues, f.queue)]):
                yield chunk
            if len(events) < self.page:
                return
            sub.cursor = max(sub.cursor, events[-1].seq)  # a full page the filter emptied: go on past it


def _take(sub: Subscription, frames: list[Frame | None]) -> bytes:
    """The frames the subscriber has not had yet, as one chunk; moves its cursor past them."""
    out = []
    for frame in frames:
        if frame is not None and frame.seq > sub.cursor:
            sub.cursor = frame.seq
            out.append(frame.data)
    return b"".join(out)


def _offer(queue: asyncio.Queue[Frame | None], item: Frame | None) -> None:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        pass  # it is not waiting, then: it will see `stopping` at its next turn


def _drain(queue: asyncio.Queue[Frame | None]) -> None:
    while not queue.empty():
        queue.get_nowait()
