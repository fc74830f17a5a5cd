"""Summarise a py-spy `--format raw --threads` profile (collapsed stacks): where the time goes.

    .venv/bin/python bench/profile_summary.py PROFILE.txt [--top 25] [--thread edge-rules]

Prints the samples per thread, then the functions with the most samples on their own
(self) and anywhere on the stack (inclusive), as a share of all samples. py-spy leaves out
idle threads (waiting on a lock or a socket) by default, so the shares are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"\s*\((?P<file>[^():]+):\d+\)$")


def frame_name(frame: str) -> str:
    """'func (path/file.py:123)' -> 'func (file.py)': lines of one function count together."""
    match = _LINE.search(frame)
    if not match:
        return frame.strip()
    return f"{frame[:match.start()].strip()} ({Path(match['file']).name})"


def thread_name(frame: str) -> str:
    """'thread (1234): edge-rules' -> 'edge-rules'; the main thread has no name."""
    return frame.split(":", 1)[1].strip() if ":" in frame else "main"


def load(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames outermost first, samples) per line of the profile."""
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        stacks.append((thread_name(frames[0]), [frame_name(f) for f in frames[1:]], int(count)))
    return stacks


def summarise(stacks: list[tuple[str, list[str], int]], top: int, only_thread: str | None) -> str:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for thread, frames, count in stacks:
        threads[_family(thread)] += count
        if only_thread and not thread.startswith(only_thread):
            continue
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    total = sum(threads.values()) or 1
    lines = [f"{total} samples", "", "threads:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common()]
    scope = f" (thread {only_thread})" if only_thread else ""
    lines += ["", f"self{scope}:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", f"inclusive{scope}:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _family(thread: str) -> str:
    # The health server starts a thread per request: count them as one.
    return "health requests" if "process_request_thread" in thread else thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", help="self and inclusive times of the threads whose name starts so")
    args = parser.parse_args(argv)
    print(summarise(load(args.profile), args.top, args.thread))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
