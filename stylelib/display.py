"""Figures and widgets for notebooks: image grids, feature-map grids, loss curves, the pipeline
diagram, uploaded files and live views.

Introduced in notebook 00 (pipeline_diagram), 01 (show_images, uploads); live views in notebook 06.
Widget code works with ipywidgets 7.7 (Colab's) and 8 (JupyterLab 4's).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import ImageError
from .images import load_image, to_uint8


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


def pipeline_diagram(title: str = "Style transfer by optimisation: the whole pipeline"):
    """Draw the method as boxes and arrows: images -> VGG19 -> content and Gram targets -> loss ->
    gradient -> image. Returns the Matplotlib figure (an ordinary image in any notebook front end).

    Drawn, not computed: it needs no weights. Introduced in notebook 00.
    """
    import matplotlib.pyplot as plt  # pyplot, so that Jupyter's inline backend shows the figure
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.3, 6.2)
    ax.axis("off")
    colours = {"image": "#fde9c8", "net": "#d6e6f5", "target": "#dff0d8", "loss": "#f5d6d6"}

    def box(x, y, w, h, text, kind):
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.08",
                facecolor=colours[kind],
                edgecolor="0.3",
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(start, end, text="", **kw):
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.3, **kw),
        )
        if text:
            mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
            ax.text(*mid, text, ha="center", va="bottom", fontsize=8, color="0.2")

    box(1.1, 5, 1.9, 0.9, "content image $p$\n(photograph)", "image")
    box(1.1, 3, 1.9, 0.9, "style image $a$\n(painting)", "image")
    box(1.1, 1, 1.9, 0.9, "generated image $x$\n(the only variable)", "image")
    box(4.2, 3, 1.9, 4.9, "VGG19\nconvolutional part\n(frozen weights)", "net")
    box(7.4, 5, 2.6, 0.9, "content target $P$\nblock5_conv2 of $p$", "target")
    box(7.4, 3, 2.6, 0.9, "style targets $A^l$: Gram matrices\nof $a$ at block1..5_conv1", "target")
    box(7.4, 1, 2.6, 0.9, "features of $x$: $F$ and\nGram matrices $G^l$", "target")
    box(
        10.7,
        3,
        2.2,
        1.2,
        "loss\n$L = \\alpha L_\\mathrm{content}$\n$+\\ \\beta L_\\mathrm{style}$ (+ TV)",
        "loss",
    )
    box(10.7, 1, 2.2, 0.9, "gradient $\\partial L / \\partial x$\n(tf.GradientTape)", "loss")
    for y in (5, 3, 1):
        arrow((2.1, y), (3.2, y))
        arrow((5.2, y), (6.05, y))
    arrow((8.75, 5), (9.55, 3.45))
    arrow((8.75, 3), (9.55, 3))
    arrow((8.75, 1), (9.55, 2.55))
    arrow((10.7, 2.35), (10.7, 1.5))
    arrow((10.7, 0.5), (1.1, 0.5), connectionstyle="bar,fraction=-0.06")
    ax.text(5.9, -0.1, "update $x$ (Adam or L-BFGS) and repeat", ha="center", fontsize=9)
    ax.text(
        7.4, 5.75, "targets $P$ and $A^l$: computed once", ha="center", fontsize=8, color="0.35"
    )
    ax.text(7.4, 1.72, "recomputed every step", ha="center", fontsize=8, color="0.35")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def uploaded_files(upload) -> list[tuple[str, bytes]]:
    """(file name, file bytes) for each file in an ipywidgets FileUpload, on ipywidgets 7 and 8.

    ``upload`` is the widget or its ``.value``. ipywidgets 7 keeps a dict ``{name: {"metadata":
    {...}, "content": bytes}}``; ipywidgets 8 a tuple of dicts with "name" and "content" (a
    memoryview). Empty before anything is uploaded. Introduced in notebook 01.
    """
    value = getattr(upload, "value", upload)
    if isinstance(value, Mapping):  # ipywidgets 7
        return [
            (str(entry.get("metadata", {}).get("name", key)), bytes(entry["content"]))
            for key, entry in value.items()
        ]
    if isinstance(value, (tuple, list)):  # ipywidgets 8
        return [(str(entry["name"]), bytes(entry["content"])) for entry in value]
    raise TypeError(
        "uploaded_files: expected a FileUpload widget or its value (a dict in ipywidgets 7, a "
        f"tuple in ipywidgets 8), got {type(value).__name__}"
    )


def uploaded_images(upload, max_dim: int | None = 512) -> list[tuple[str, object]]:
    """(file name, image) for each uploaded file; image: float32 [1, H, W, 3] in [0, 1].

    Loaded like load_image (orientation, RGB, longer side ``max_dim``). A file that is not an image
    raises ImageError naming the uploaded file. Introduced in notebook 01.
    """
    images = []
    for name, data in uploaded_files(upload):
        try:
            images.append((name, load_image(data, max_dim=max_dim)))
        except ImageError as error:
            message = str(error).replace(f"<{len(data)} bytes>", f"uploaded file {name!r}", 1)
            raise ImageError(message) from None
    return images


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
