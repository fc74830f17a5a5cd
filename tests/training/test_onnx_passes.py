"""The DFL pass gives the same outputs, bit for bit, and leaves other graphs alone; the shipped model has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.training.onnx_passes import dfl_last_axis, main  # noqa: E402
from models.vision.model_file import DEFAULT_EBIKE_MODEL  # noqa: E402

ANCHORS = 60


def dfl_head(perm: tuple[int, ...] = (0, 2, 1, 3), axis: int = 1) -> onnx.ModelProto:
    """ultralytics' DFL block as exported: (1, 64, A) -> (1, 4, 16, A) -> transpose -> softmax -> 1x1 conv by 0..15."""
    nodes = [
        helper.make_node("Reshape", ["x", "shape4"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=list(perm)),
        helper.make_node("Softmax", ["t"], ["s"], axis=axis),
        helper.make_node("Conv", ["s", "bins"], ["c"], kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("Reshape", ["c", "shape3"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array([1, 4, 16, ANCHORS], np.int64), "shape4"),
             numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1), "bins"),
             numpy_helper.from_array(np.array([1, 4, ANCHORS], np.int64), "shape3")]
    graph = helper.make_graph(nodes, "dfl", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, ANCHORS])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, ANCHORS])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_the_rewritten_block_gives_the_same_numbers():
    x = np.random.default_rng(0).normal(0, 4, (1, 64, ANCHORS)).astype(np.float32)
    model = dfl_head()
    before = run(model, x)
    assert dfl_last_axis(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Reshape", "Transpose", "Softmax", "MatMul", "Reshape"]
    assert np.array_equal(run(model, x), before)
    assert dfl_last_axis(model) == 0  # done already


def test_a_softmax_over_another_layout_is_left_alone():
    model = dfl_head(perm=(0, 1, 2, 3), axis=2)
    assert dfl_last_axis(model) == 0
    assert [n.op_type for n in model.graph.node].count("Conv") == 1


def test_the_cli_writes_a_copy(tmp_path: Path):
    src, out = tmp_path / "m.onnx", tmp_path / "fast.onnx"
    onnx.save(dfl_head(), str(src))
    assert main([str(src), "--out", str(out)]) == 0
    assert "MatMul" in {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "MatMul" not in {n.op_type for n in onnx.load(str(src)).graph.node}


def test_the_shipped_detector_has_its_dfl_on_the_last_axis():
    model = onnx.load(str(DEFAULT_EBIKE_MODEL))
    assert dfl_last_axis(model) == 0
    assert any(n.op_type == "MatMul" and "dfl" in n.name for n in model.graph.node)
