"""Figures drawn by stylelib.display."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from stylelib.display import feature_grid, pipeline_diagram


def teardown_function():
    plt.close("all")


def test_pipeline_diagram_names_every_stage():
    fig = pipeline_diagram()
    ax = fig.axes[0]
    text = " ".join(t.get_text() for t in ax.texts)
    for label in (
        "content image",
        "style image",
        "generated image",
        "VGG19",
        "content target",
        "Gram matrices",
        "loss",
        "gradient",
        "update $x$",
    ):
        assert label in text, f"{label!r} missing from the diagram"
    assert ax.get_title() == "Style transfer by optimisation: the whole pipeline"
    assert len(ax.patches) == 9, "nine boxes"
    assert sum(1 for t in ax.texts if getattr(t, "arrow_patch", None)) == 11, "eleven arrows"
    fig.canvas.draw()  # renders without a display
    assert fig in map(plt.figure, plt.get_fignums()), "a pyplot figure, so notebooks show it"


def test_pipeline_diagram_title_is_configurable():
    assert pipeline_diagram(title="x").axes[0].get_title() == "x"


def test_feature_grid_scales_each_channel_and_leaves_gaps():
    maps = np.zeros((1, 3, 4, 2), dtype=np.float32)
    maps[..., 0] = 2.0
    maps[0, 0, 0, 1] = 5.0
    grid = feature_grid(maps, n=2, ncols=2)
    assert grid.shape == (3, 9)
    assert np.all(grid[:, :4] == 1.0) and grid[0, 5] == 1.0 and grid[1, 5] == 0.0
    assert np.all(np.isnan(grid[:, 4]))
