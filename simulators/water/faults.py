"""Transport faults on the publish order: duplicates, adjacent reorders, malformed payloads.

Faults change only what goes over the wire, never the readings or the ground truth: a
duplicate repeats a message, a reorder swaps a meter's two consecutive messages, a malformed
payload is an extra message (flagged) that a worker must dead-letter. Late batches are made
where the messages are built (simulators.water.scenario), because they regroup readings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ingest.wire.water import Reading
from simulators.water.model import SimMessage
from simulators.water.payloads import MALFORMED_KINDS, malformed

DUPLICATE_SHARE = 0.01
REORDER_SHARE = 0.005
MALFORMED_SHARE = 0.005
REORDER_LOOKAHEAD = 200  # how far ahead in the stream the meter's next message may be


def apply_faults(messages: list[SimMessage], sample_readings: dict[str, Reading],
                 rng: np.random.Generator) -> list[SimMessage]:
    """The messages with faults; `sample_readings` (meter -> a reading) shapes the malformed ones."""
    out = _reorder(list(messages), rng)
    out = _duplicate(out, rng)
    return _add_malformed(out, sample_readings, rng)


def _reorder(messages: list[SimMessage], rng: np.random.Generator) -> list[SimMessage]:
    picks = np.flatnonzero(rng.random(len(messages)) < REORDER_SHARE)
    for i in picks:
        first = messages[i]
        if first.topic_kind != "reading" or first.fault:
            continue
        for j in range(i + 1, min(i + REORDER_LOOKAHEAD, len(messages))):
            second = messages[j]
            if second.meter == first.meter:
                if second.topic_kind == "reading" and not second.fault:
                    # The older message now arrives just after the newer one.
                    messages[i] = second
                    messages[j] = replace(first, fault="reordered", publish_at=second.send_time)
                break
    return messages


def _duplicate(messages: list[SimMessage], rng: np.random.Generator) -> list[SimMessage]:
    out: list[SimMessage] = []
    pending: list[tuple[int, SimMessage]] = []  # (send after this many more messages, copy)
    for message in messages:
        out.append(message)
        if message.topic_kind == "reading" and rng.random() < DUPLICATE_SHARE:
            pending.append((int(rng.integers(0, 5)), replace(message, fault="duplicate")))
        due = [copy for wait, copy in pending if wait <= 0]
        pending = [(wait - 1, copy) for wait, copy in pending if wait > 0]
        out.extend(due)
    out.extend(copy for _, copy in pending)
    return out


def _add_malformed(messages: list[SimMessage], sample_readings: dict[str, Reading],
                   rng: np.random.Generator) -> list[SimMessage]:
    readings = [m for m in messages if m.topic_kind == "reading"]
    count = max(1, round(len(readings) * MALFORMED_SHARE)) if readings and sample_readings else 0
    meters = sorted(sample_readings)
    slots = sorted(int(s) for s in rng.integers(0, len(messages) + 1, size=count))
    out: list[SimMessage] = []
    cursor = 0
    for n, slot in enumerate(slots):
        out.extend(messages[cursor:slot])
        cursor = slot
        neighbour = messages[min(slot, len(messages) - 1)]
        meter = meters[int(rng.integers(len(meters)))]
        kind = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
        # Shaped like the meter's reading at this point of the stream, so only the fault is wrong.
        base = sample_readings[meter]
        shaped = Reading(meter, neighbour.send_time, base.total_l, base.flow_lpm, base.battery_v, base.seq)
        out.append(SimMessage("reading", meter, malformed(shaped, kind), neighbour.send_time, True,
                              neighbour.send_time, f"malformed:{kind}"))
    out.extend(messages[cursor:])
    return out
