"""`gridwatch model review DIR --terminal`: the same decisions as the page, typed, for a machine with no browser.

No drawing here: a person opens the image in any viewer (its path is printed) and keeps, deletes or re-classes
the model's boxes, or says there is nothing in the frame.
"""

from __future__ import annotations

from typing import TextIO

from models.training.review.folder import UNREVIEWED, FlywheelFolder, Frame, supersedes
from models.training.review.labels import Box, ReviewError

HELP = ("Enter or a = accept the boxes shown and go on · n = nothing here (empty label) · d K = delete box K · "
        "c K CLASS = change box K's class (number or name) · s = skip · b = back · f = forward · q = quit")


class _Session:
    def __init__(self, folder: FlywheelFolder, out: TextIO) -> None:
        self.folder = folder
        self.out = out
        self.frames = folder.frames()
        self.decisions = folder.decisions()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def progress(self) -> str:
        labelled = sum(1 for f in self.frames if (d := self.decisions.get(f.stem)) and d.labelled)
        skipped = sum(1 for f in self.frames if (d := self.decisions.get(f.stem)) and not d.labelled)
        return f"{labelled} of {len(self.frames)} reviewed, {skipped} skipped"

    def show(self, index: int, frame: Frame, boxes: list[Box], size: tuple[int, int], edited: bool = False) -> None:
        decision = self.decisions.get(frame.stem)
        state = decision.action if decision else UNREVIEWED
        w, h = size
        if edited:
            self.say("  changed, not saved yet (Enter saves):")
        else:
            self.say(f"\nframe {index + 1} of {len(self.frames)}: {frame.stem} ({state}) · {self.progress()}")
            self.say(f"  image {frame.image} ({w}x{h})")
        if not boxes:
            self.say("  no boxes")
        for k, box in enumerate(boxes, start=1):
            x1, y1, x2, y2 = box.xyxy()
            self.say(f"  box {k}: {self.folder.names[box.cls]:<10} x {x1 * w:.0f}-{x2 * w:.0f}  "
                     f"y {y1 * h:.0f}-{y2 * h:.0f} px")

    def class_of(self, text: str) -> int:
        names = self.folder.names
        if text in names:
            return names.index(text)
        if text.isdigit() and 1 <= int(text) <= len(names):
            return int(text) - 1
        raise ReviewError(f"no class {text!r}: " + ", ".join(f"{i} {n}" for i, n in enumerate(names, start=1)))

    def box_number(self, text: str, boxes: list[Box]) -> int:
        if not text.isdigit() or not 1 <= int(text) <= len(boxes):
            raise ReviewError(f"no box {text!r}: boxes are 1-{len(boxes)}" if boxes else "this frame has no boxes")
        return int(text) - 1


def run(folder: FlywheelFolder, stdin: TextIO, out: TextIO) -> int:
    """Until every frame is passed, `q`, or the end of input. Each decision is written as it is made."""
    session = _Session(folder, out)
    if not session.frames:
        session.say(f"no frames in {folder.images}")
        return 0
    session.say(f"reviewing {folder.root}: classes " +
                ", ".join(f"{i} {n}" for i, n in enumerate(folder.names, start=1)))
    session.say(HELP)
    index, step = folder.start_index(session.frames, session.decisions), 1
    while 0 <= index < len(session.frames):
        frame = session.frames[index]
        try:
            size, boxes = folder.image_size(frame), folder.boxes(frame)
        except ReviewError as exc:
            session.say(f"\nframe {index + 1} of {len(session.frames)}: cannot be labelled: {exc}; passed over")
            index, step = (index + step, step) if index + step >= 0 else (index + 1, 1)  # `b` goes on back
            continue
        following = _one_frame(session, index, frame, boxes, size, stdin)
        if following is None:
            break
        index, step = following, (-1 if following < index else 1)
    session.say(f"\n{session.progress()}: labels in {folder.labels}, decisions in {folder.decisions_path}")
    return 0


def _one_frame(session: _Session, index: int, frame: Frame, boxes: list[Box], size: tuple[int, int],
               stdin: TextIO) -> int | None:
    """Reads commands for one frame; returns the next frame's index, or None to stop."""
    session.show(index, frame, boxes, size)
    while True:
        session.out.write("> ")
        session.out.flush()
        line = stdin.readline()
        if not line:
            return None  # end of input: what was decided is written already
        words = line.split()
        command = words[0].lower() if words else "a"
        try:
            if command in ("a", "accept", "n", "s"):
                action = {"a": "save", "accept": "save", "n": "empty", "s": "skip"}[command]
                decision = session.folder.decide(frame, action, boxes, via="terminal")
                if supersedes(decision, session.decisions.get(frame.stem)):
                    session.decisions[frame.stem] = decision
                session.say(f"  {decision.action}")
                return index + 1
            if command == "d" and len(words) == 2:
                del boxes[session.box_number(words[1], boxes)]
            elif command == "c" and len(words) == 3:
                k = session.box_number(words[1], boxes)
                old = boxes[k]
                boxes[k] = Box(session.class_of(words[2]), old.cx, old.cy, old.w, old.h)
            elif command == "b":
                return max(index - 1, 0)
            elif command == "f":
                return index + 1
            elif command == "q":
                return None
            else:
                session.say(HELP)
                continue
        except ReviewError as exc:
            session.say(f"  {exc}")
            continue
        session.show(index, frame, boxes, size, edited=True)
