"""Labelling the frames the edge was unsure about, and merging them into one training folder.

`gridwatch model review DIR` (a local keyboard-driven page, or `--terminal`) turns the model's pre-labels in a
flywheel folder (edge/elevator/flywheel.py) into checked YOLO labels; `gridwatch model merge DIR... --out L`
gathers the reviewed frames of one or more such folders into a folder `gridwatch model train --data L` takes.
"""
