"""Graph passes on an exported detector before it ships: the same outputs, bit for bit, in less time.

`dfl_last_axis`: ultralytics' head turns each anchor's 4 x 16 box logits into distances with a DFL block:
reshape to (1, 4, 16, A), transpose to (1, 16, 4, A), softmax over axis 1, a 1x1 convolution with the weights
0..15 (the expected bin). ONNX Runtime takes a softmax off the last axis by transposing around it: 1.65 ms of
the e-bike detector's 37 on this session's machine, against 0.32 ms on the last axis. So the pass transposes to
(1, 4, A, 16), takes the softmax over the last axis and a MatMul with the same weights in the convolution's
place: the same sums of the same numbers (the shipped model's outputs are bit-identical on all 661 frames of the
shared sets and the negative scenes) and about 1.3 ms a frame less (`bench/ebike_stages.py --compare`).

`python -m models.training.onnx_passes MODEL.onnx [--out OUT.onnx]` (in place by default); `gridwatch model
export` runs it on what it exports. Training side only: it needs the `onnx` package, the edge does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def dfl_last_axis(model: onnx.ModelProto) -> int:
    """Rewrite every DFL block of `model` in place; the number rewritten (0: none, or done already)."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {i.name: i for i in graph.initializer}
    changed: set[str] = set()
    count = 0
    for index, conv in enumerate(graph.node):
        if conv.op_type != "Conv" or len(conv.input) != 2 or conv.input[1] not in inits:
            continue
        weight = numpy_helper.to_array(inits[conv.input[1]])
        softmax = producer.get(conv.input[0])
        transpose = producer.get(softmax.input[0]) if softmax is not None and softmax.op_type == "Softmax" else None
        if (transpose is None or transpose.op_type != "Transpose" or weight.ndim != 4 or weight.shape[0] != 1
                or weight.shape[2:] != (1, 1) or len(consumers.get(softmax.output[0], [])) != 1
                or len(consumers.get(transpose.output[0], [])) != 1):
            continue
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None)
        axis = next((a.i for a in softmax.attribute if a.name == "axis"), -1)
        if perm != [0, 2, 1, 3] or axis != 1 or not _pointwise(conv):
            continue
        # (1, 4, C, A) -> (1, 4, A, C); softmax over C, now the last axis; (.., A, C) @ (C, 1) -> (1, 4, A, 1),
        # whose elements are in the order of the convolution's (1, 1, 4, A): the reshape after it is unchanged.
        del transpose.attribute[:]
        transpose.attribute.append(helper.make_attribute("perm", [0, 1, 3, 2]))
        del softmax.attribute[:]
        softmax.attribute.append(helper.make_attribute("axis", -1))
        bins = f"{conv.input[1]}.matmul"
        graph.initializer.append(numpy_helper.from_array(
            np.ascontiguousarray(weight.reshape(weight.shape[1], 1)), bins))
        graph.node[index].CopyFrom(helper.make_node("MatMul", [softmax.output[0], bins], list(conv.output),
                                                    name=f"{conv.name}.matmul"))
        changed |= {transpose.output[0], softmax.output[0], *conv.output}
        count += 1
    if changed:  # the exporter's shape annotations of the rewritten tensors no longer hold; the convs' weights go
        kept = [v for v in graph.value_info if v.name not in changed]
        del graph.value_info[:]
        graph.value_info.extend(kept)
        used = {name for node in graph.node for name in node.input}
        weights = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(weights)
    return count


def _pointwise(conv: onnx.NodeProto) -> bool:
    """A plain 1x1 convolution: a weighted sum over channels and nothing else."""
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    return (set(attrs) <= {"dilations", "group", "kernel_shape", "pads", "strides"} and attrs.get("group", 1) == 1
            and all(v == 1 for k in ("dilations", "strides", "kernel_shape") for v in attrs.get(k, [1]))
            and all(v == 0 for v in attrs.get("pads", [0])))


def optimize_file(path: Path, out: Path | None = None) -> int:
    model = onnx.load(str(path))
    count = dfl_last_axis(model)
    if count or out is not None:
        onnx.checker.check_model(model)
        onnx.save(model, str(out or path))
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write here (default: rewrite MODEL in place)")
    args = parser.parse_args(argv)
    count = optimize_file(args.model, args.out)
    print(f"{args.out or args.model}: {count} DFL block(s) moved to a last-axis softmax")
    return 0


if __name__ == "__main__":
    sys.exit(main())
