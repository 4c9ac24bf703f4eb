"""tf.summary and FileWriter: event files written on the client, read back with TensorBoard's
own reader (EventAccumulator); summaries computed by the worker's TensorFlow summary ops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gentf import tf as gtf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _read(logdir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def test_graph_scalars_and_histograms_read_back(session: gtf.Session, tmp_path: Path) -> None:
    """The graph (auto_name's names), worker-computed scalars and histograms, and client
    scalars, all read back by TensorBoard with the right tags, steps and values."""
    xv = np.array([[1.0, 2.0], [3.0, -1.0]])
    with gtf.auto_name():
        x = gtf.placeholder(gtf.float64, (2, 2), name="x")
        W = gtf.Variable(np.array([[0.5, -1.0], [2.0, 0.25]]), name="W")
        loss = gtf.reduce_sum(gtf.square(gtf.matmul(x, W)))
        step = W.assign_sub(0.01 * W)
    assert loss.op.name == "loss"
    gtf.summary.scalar("objective", loss)
    gtf.summary.histogram("weights", W)
    merged = gtf.summary.merge_all()
    assert merged is not None and merged.op.type == "MergeSummary"
    with gtf.summary.FileWriter(tmp_path, session.graph) as writer:
        expected_loss, expected_W = [], []
        for k in range(3):
            w_now = session.run(W)
            summary, _ = session.run([merged, step], {x: xv})
            writer.add_summary(summary, k)
            writer.add_scalar("client/twice", 2.0 * k, global_step=k)
            expected_loss.append(np.sum((xv @ w_now) ** 2))
            expected_W.append(w_now)

    acc = _read(tmp_path)
    tags = acc.Tags()
    assert sorted(tags["scalars"]) == ["client/twice", "objective"]
    assert tags["histograms"] == ["weights"]
    assert tags["graph"] is True
    losses = acc.Scalars("objective")
    assert [e.step for e in losses] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in losses], expected_loss, rtol=1e-6)
    assert [e.value for e in acc.Scalars("client/twice")] == [0.0, 2.0, 4.0]
    histograms = acc.Histograms("weights")
    assert [h.step for h in histograms] == [0, 1, 2]
    for h, w in zip(histograms, expected_W):
        value = h.histogram_value
        assert value.num == 4
        np.testing.assert_allclose([value.min, value.max, value.sum, value.sum_squares],
                                   [w.min(), w.max(), w.sum(), (w ** 2).sum()], rtol=1e-12)

    graph = acc.Graph()
    nodes = {n.name: n for n in graph.node}
    assert nodes["x"].op == "Placeholder" and nodes["W"].op == "VarHandleOp"
    assert nodes["loss"].op == "Sum" and nodes["objective"].op == "ScalarSummary"
    for node in graph.node:  # every edge ends at a node TensorBoard can draw
        assert all(i.lstrip("^").split(":")[0] in nodes for i in node.input), node.name
    matmul = next(n for n in graph.node if n.op == "MatMul")
    assert list(matmul.input) == ["x", "W/read"]
    assert [d.size for d in matmul.attr["_output_shapes"].list.shape[0].dim] == [2, 2]
    assert set(nodes) == {op.name for op in session.graph.operations}


def test_summary_names_merge_and_add_summary_inputs(session: gtf.Session, tmp_path: Path) -> None:
    """Tags follow TF1 (name scope, uniqueness, family); merge takes a list; add_summary
    takes bytes, 0-d arrays and protos and refuses other values."""
    a = gtf.constant(3.0)
    with gtf.name_scope("train"):
        s1 = gtf.summary.scalar("rate", a)
        s2 = gtf.summary.scalar("rate", a * 2.0)
    s3 = gtf.summary.scalar("size", a + 1.0, family="stats", collections=[])
    assert [s1.op.name, s2.op.name, s3.op.name] == ["train/rate", "train/rate_1", "stats/size"]
    assert gtf.summary.merge_all(scope="train/rate_") is not None
    both = gtf.summary.merge([s1, s3])
    with pytest.raises(ValueError):
        gtf.summary.merge([])
    value = session.run(both)
    writer = gtf.summary.FileWriter(tmp_path / "run")
    writer.add_summary(value, 1)
    writer.add_summary(np.asarray(session.run(s2), dtype=object), 2)
    proto = gtf.summary.Summary(value=[gtf.summary.Summary.Value(tag="p", simple_value=1.5)])
    writer.add_summary(proto, 3)
    with pytest.raises(TypeError):
        writer.add_summary(1.0, 4)
    writer.close()

    acc = _read(tmp_path / "run")
    assert sorted(acc.Tags()["scalars"]) == ["p", "stats/stats/size", "train/rate", "train/rate_1"]
    assert [(e.step, e.value) for e in acc.Scalars("train/rate")] == [(1, 3.0)]
    assert [(e.step, e.value) for e in acc.Scalars("train/rate_1")] == [(2, 6.0)]
    assert [(e.step, e.value) for e in acc.Scalars("stats/stats/size")] == [(1, 4.0)]
    assert acc.Tags()["graph"] is False


def test_importing_summary_loads_no_writer_and_no_tensorflow() -> None:
    """gentf.tf.summary is importable without tensorboardX or TensorFlow being loaded."""
    code = ("import sys; from gentf import tf; tf.summary.scalar; "
            "print('tensorboardX' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_summaries_match_tensorflow_v1(session: gtf.Session) -> None:
    """The same TF1 summary program in real tensorflow.compat.v1 gives the same summary node
    names and byte-identical serialized summaries (scalar, histogram, family, merged)."""
    import tensorflow as tf

    values = np.random.default_rng(3).normal(size=(4, 5))

    def program(t: Any) -> Any:
        v = t.constant(values)
        with t.name_scope("train"):
            t.summary.scalar("average", t.reduce_mean(v))
            t.summary.histogram("values", v)
        t.summary.scalar("size", t.reduce_sum(v), family="stats")
        return t.summary.merge_all()

    ours = session.run(program(gtf)).item()
    tg = tf.Graph()
    with tg.as_default():
        merged = program(tf.compat.v1)
    with tf.compat.v1.Session(graph=tg) as sess:
        theirs = sess.run(merged)
    expected = ["train/average", "train/values", "stats/size", "Merge/MergeSummary"]
    assert [op.name for op in tg.get_operations() if op.type.endswith("Summary")] == expected
    assert [op.name for op in session.graph.operations if op.type.endswith("Summary")] == expected
    assert ours == theirs
