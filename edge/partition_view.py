"""`gridwatch check`'s view of a district's partitions: what each owns, and what none or two own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from edge.partition import PartitionConfig, share_of, unowned
from ingest.registry import Registry
from ingest.topics import Topics


def partition_table(named: Sequence[tuple[str, PartitionConfig]], registry: Registry,
                    topics: Topics | None = None) -> list[str]:
    """One line per partition (meters, elevators, buildings touched, topics subscribed), then the
    subjects no partition owns and those two partitions both claim."""
    topics = topics or Topics()
    lines = [f"{'partition':<24} {'owns':<28} {'meters':>7} {'elevators':>9} {'buildings':>9} {'topics':>7}"]
    owners: Counter[str] = Counter()
    for name, partition in named:
        share = share_of(partition, registry)
        owners.update(share.meters + share.elevators)
        places = {registry.meter(m).building for m in share.meters} | {
            registry.elevator(e).building for e in share.elevators}
        lines.append(f"{name:<24} {partition.describe():<28} {len(share.meters):>7} {len(share.elevators):>9}"
                     f" {len(places - {None}):>9} {len(share.topics(topics)):>7}")
    gap = unowned([p for _n, p in named], registry)
    twice = sorted(s for s, n in owners.items() if n > 1)
    if gap.meters or gap.elevators:
        lines.append(f"owned by no partition: {len(gap.meters)} meters, {len(gap.elevators)} elevators"
                     f" (e.g. {', '.join((gap.meters + gap.elevators)[:5])})")
    if twice:
        lines.append(f"owned by two partitions (their state would split): {len(twice)} (e.g. {', '.join(twice[:5])})")
    if not (gap.meters or gap.elevators or twice):
        lines.append(f"every one of {len(registry.meters)} meters and {len(registry.elevators)} elevators "
                     "has exactly one partition")
    return lines


def hash_partitions(count: int) -> list[tuple[str, PartitionConfig]]:
    return [(f"index {i}/{count}", PartitionConfig(index=i, count=count)) for i in range(count)]
