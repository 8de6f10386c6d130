"""Reproducible on a CPU: the same inputs, settings, seed and weights give the same bits, in one
process and in a fresh one (without TensorFlow's op determinism; see the README's section on
reproducibility for what else must stay the same, such as the number of intra-op threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import stylelib

ROOT = Path(__file__).resolve().parents[1]

#: Each optimiser from a seeded noise start and from the content, with few steps.
CASES = {
    "adam-noise": dict(optimizer="adam", steps=8, init="noise", seed=3),
    "adam-content": dict(optimizer="adam", steps=8, init="content"),
    "lbfgs-noise": dict(optimizer="lbfgs", steps=5, init="noise", seed=4),
    "lbfgs-content": dict(optimizer="lbfgs", steps=5, init="content"),
}

#: Runs CASES in a new interpreter: argv = checkout, inputs .npz, cases as JSON, output .npz.
SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import stylelib
from tests.test_reproducible import run
inputs = np.load(sys.argv[2])
out = {}
for name, options in json.loads(sys.argv[3]).items():
    out[name + "/image"], out[name + "/history"] = run(inputs["content"], inputs["style"], options)
np.savez(sys.argv[4], **out)
"""


def run(content: np.ndarray, style: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """stylize with untrained weights: the image and the history (every column but the time).

    The images go in as tensors, at their own size (an array would be loaded to ``max_dim``)."""
    content, style = tf.constant(content), tf.constant(style)
    result = stylelib.stylize(content, style, weights="random", **options)
    columns = result.history_arrays()
    del columns["seconds"]
    return result.image.numpy(), np.stack(list(columns.values()), axis=1)


@pytest.fixture(scope="module")
def inputs(content_image, style_image):
    return {"content": content_image.numpy(), "style": style_image.numpy()}


@pytest.fixture(scope="module")
def first_runs(inputs):
    return {
        name: run(inputs["content"], inputs["style"], options) for name, options in CASES.items()
    }


@pytest.mark.parametrize("name", CASES)
def test_the_same_call_twice_gives_the_same_bits(inputs, first_runs, name):
    image, history = run(inputs["content"], inputs["style"], CASES[name])
    np.testing.assert_array_equal(image, first_runs[name][0])
    np.testing.assert_array_equal(history, first_runs[name][1])


def test_a_fresh_process_gives_the_same_bits(tmp_path, inputs, first_runs):
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != stylelib.WEIGHTS_ENV}
    args = [ROOT, tmp_path / "inputs.npz", json.dumps(CASES), tmp_path / "out.npz"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = np.load(tmp_path / "out.npz")
    for name, (image, history) in first_runs.items():
        np.testing.assert_array_equal(fresh[name + "/image"], image, err_msg=name)
        np.testing.assert_array_equal(fresh[name + "/history"], history, err_msg=name)
    # The runs differ from each other: the comparison above can fail.
    assert not np.array_equal(first_runs["adam-noise"][0], first_runs["lbfgs-noise"][0])


def _memory_optimization() -> int:
    """Grappler's memory optimizer setting for the compiled functions this thread calls now."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    raw = context.context().function_call_options.config_proto_serialized
    return config_pb2.ConfigProto.FromString(raw).graph_options.rewrite_options.memory_optimization


def test_stylize_runs_its_steps_without_grappler_s_addn_rewrite(content_image, style_image):
    """The memory optimizer's AddN rewrite adds gradients in the order they finish (README, "Same
    inputs, same bits"): it is off during stylize's steps, for this thread, and back on after."""
    from tensorflow.core.protobuf import rewriter_config_pb2

    before = _memory_optimization()
    seen = []
    stylelib.stylize(
        content_image,
        style_image,
        optimizer="adam",
        steps=2,
        weights="random",
        callback=lambda step, image, record: seen.append(_memory_optimization()),
        callback_every=1,
    )
    assert seen and set(seen) == {rewriter_config_pb2.RewriterConfig.NO_MEM_OPT}, seen
    assert _memory_optimization() == before != rewriter_config_pb2.RewriterConfig.NO_MEM_OPT


def test_the_same_bits_at_288x384_px():
    """The size at which grappler rewrote the gradients' sums here (with 24 GB of RAM): two Adam
    runs in one process differed from the first gradient on before stylize switched it off."""
    content = tf.random.stateless_uniform([1, 288, 384, 3], seed=[1, 2]).numpy()
    style = tf.random.stateless_uniform([1, 288, 384, 3], seed=[3, 4]).numpy()
    options = dict(optimizer="adam", steps=2)  # the first update already differed
    first, again = run(content, style, options), run(content, style, options)
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])
