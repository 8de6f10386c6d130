"""Figures and live views for notebooks: image grids, feature-map grids, loss curves.

Introduced in notebook 01 (show_images); live views in notebook 06.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from .images import to_uint8


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.5,
    suptitle: str | None = None,
):
    """Show images side by side. images: each [1, H, W, 3] or [H, W, 3] in [0, 1]. Returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(to_uint8(image))
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def feature_grid(features, n: int = 16, ncols: int = 8) -> np.ndarray:
    """Tile the first ``n`` channels of features [1, h, w, C] into one array in [0, 1].

    Each channel is scaled by its own maximum, so weak channels stay visible (0 = black); the
    one-pixel gaps between tiles are NaN, which Matplotlib leaves blank.
    Introduced in notebook 02.
    """
    maps = np.asarray(features)[0][..., :n]
    h, w, c = maps.shape
    nrows = -(-c // ncols)
    grid = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan, dtype=np.float32)
    for k in range(c):
        peak = maps[..., k].max()
        tile = maps[..., k] / peak if peak > 0 else maps[..., k]
        r, q = divmod(k, ncols)
        grid[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = tile
    return grid


def plot_losses(
    histories: Mapping[str, Sequence] | Sequence,
    *,
    x: str = "step",
    parts: bool = False,
    title: str = "Loss during optimisation",
    ax=None,
):
    """Plot total loss (log scale) against ``x`` ("step" or "seconds") for one or more histories.

    histories: a StylizeResult.history, or a mapping label -> history. With ``parts=True`` the
    content, style and TV terms of a single history are drawn too. Returns the axes.
    """
    import matplotlib.pyplot as plt

    if not isinstance(histories, Mapping):
        histories = {"total": histories}
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, history in histories.items():
        xs = [getattr(r, x) for r in history]
        ax.plot(xs, [r.total for r in history], label=label)
        if parts:
            for part in ("content", "style", "tv"):
                values = [getattr(r, part) for r in history]
                if any(v > 0 for v in values):
                    ax.plot(xs, values, "--", label=part)
    ax.set_yscale("log")
    ax.set_xlabel({"step": "step", "seconds": "wall time (s)"}.get(x, x))
    ax.set_ylabel("loss (weighted, log scale)")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return ax


class LiveView:
    """A stylize callback that shows the current image and the loss curve while it runs.

    Uses ipywidgets (JupyterLab, classic notebook and Colab); outside Jupyter it does nothing.
    Usage: ``view = LiveView(); stylize(..., callback=view, callback_every=10)``.
    Introduced in notebook 06.
    """

    def __init__(self, title: str = "stylize"):
        self.records = []
        self.title = title
        try:
            import ipywidgets as widgets
            from IPython.display import display
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            self._image = None
            return
        self._image = widgets.Image(format="png", width=320)
        self._plot = widgets.Image(format="png", width=380)
        self._label = widgets.Label(value="waiting for the first step")
        display(widgets.VBox([self._label, widgets.HBox([self._image, self._plot])]))

    def __call__(self, step, image, record) -> None:
        self.records.append(record)
        if self._image is None:
            return
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(to_uint8(image)).save(buf, format="PNG")
        self._image.value = buf.getvalue()
        self._plot.value = self._loss_png()
        self._label.value = (
            f"{self.title}: step {step}, loss {record.total:.4g}, {record.seconds:.1f} s"
        )

    def _loss_png(self) -> bytes:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4, 3), dpi=80)
        plot_losses(self.records, title="loss so far", ax=fig.add_subplot())
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
