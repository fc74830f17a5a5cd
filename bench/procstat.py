"""CPU and memory of a process from /proc (psutil is not a dependency)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of the process so far (all its threads)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: fields 14 and 15 of stat


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak resident) in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def machine_cpu() -> dict[str, float]:
    """CPU seconds of the whole machine so far, all cores: busy (user..softirq) and steal
    (taken by the hypervisor for other guests)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return {"busy": (user + nice + system + irq + softirq) / _TICK, "steal": steal / _TICK}
