"""The studio: every control of ``stylize`` as widgets, with a live preview, Stop and Save.

A learner picks or uploads a photograph and a painting, moves sliders, presses Run, watches the
image change, presses Stop when it looks right, and saves it. The run happens in a background
thread (a loop inside a click handler would keep Stop and Save waiting); the thread updates the
preview and the loss plot by setting ``widgets.Image.value`` to PNG bytes, which both JupyterLab
and Colab show (``with out: display(...)`` from a thread does not).

Works with ipywidgets 7.7 (Colab's) and 8 (JupyterLab 4's and Voila's): only widgets and traits
present in both are used, and tab titles are set with ``set_title``.

Usage in a notebook: ``studio = stylelib.studio.studio()`` (shows it), or from code
``s = Studio(steps=20); s.run(); s.wait(); s.result``. Introduced in notebook 09.
"""

from __future__ import annotations

import html
import io
import os
import threading
import time
import traceback
import weakref
from pathlib import Path

from . import control
from .errors import ImageError, NonFiniteLossError, StylelibError
from .images import MIN_SIDE, load_image, save_image, to_uint8
from .model import cached_imagenet_weights, gpu_available, vgg19_layer_table, weights_in_use
from .notebook import choose
from .objective import INITS, OPTIMIZERS, PRESETS, make_preset
from .optimize import DEFAULT_OPTIMIZER, _steps_per_scale, scale_sizes
from .samples import ONLINE_SAMPLES, SAMPLES

#: The banner shown on the image area when the network is untrained.
UNTRAINED_TEXT = (
    "Untrained (random) VGG19 weights: this shows the mechanics, not what the ImageNet-trained "
    "network produces."
)

#: The first words of every status line (the studio's one-line state; a browser test reads them).
STATUS_WORDS = ("Ready", "Running", "Stopped", "Done", "Saved to ", "Error:")

#: Choices of the image pickers that are not samples.
UPLOAD, PATH, NONE = "upload", "file path", "none"

#: Longer side (px) of the result when not given: stylize's default on a GPU, half that on a CPU,
#: where 512 px L-BFGS runs take many minutes (README, "Speed"); 64 px in fast mode (tests).
SIZE_GPU, SIZE_CPU, SIZE_FAST = 512, 256, 64

#: The "scales" choices: "auto" is stylize's default (coarse to fine from AUTO_SCALES_FROM px).
SCALE_CHOICES = ("auto", 1, 2, 3)

#: The "keep the content's colours" choice meaning preserve_colors=None (a Dropdown whose value is
#: None shows an empty box in ipywidgets 7 and 8).
NO_COLORS = "no"

#: Every Studio of this kernel (weakly held): a new one refuses to Run while an older one's run
#: goes on (re-running the cell that shows a studio leaves the old run going), and its Stop, or
#: stop_all(), ends that run.
_STUDIOS: weakref.WeakSet = weakref.WeakSet()


def running_studios() -> list[Studio]:
    """The studios of this kernel whose run is going."""
    return [studio for studio in list(_STUDIOS) if studio.running()]


def stop_all(timeout: float | None = 60.0) -> int:
    """Ask every running studio of this kernel to stop after the step under way, and wait up to
    ``timeout`` s in all for their threads to end. Returns how many were running.

    The kernel's Interrupt (■) does not stop a studio's run: signals reach only the main thread,
    and the run is in another one. Introduced in notebook 09.
    """
    studios = running_studios()
    for studio in studios:
        studio.stop()
    deadline = None if timeout is None else time.monotonic() + timeout
    for studio in studios:
        studio.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return len(studios)


def _conv_layers() -> list[str]:
    """VGG19's convolution layer names, input to output (from the architecture; no weights)."""
    return [row["name"] for row in vgg19_layer_table() if row["name"].split("_")[1][:4] == "conv"]


def default_settings() -> dict:
    """The studio's starting values: the tutorial preset with DEFAULT_OPTIMIZER, sized for the
    machine (SIZE_GPU / SIZE_CPU, SIZE_FAST and 8 steps in fast mode, ``STYLELIB_FAST=1``)."""
    preset = make_preset("tutorial", optimizer=DEFAULT_OPTIMIZER)
    size = choose(SIZE_GPU if gpu_available() else SIZE_CPU, SIZE_FAST)
    return dict(
        content="hopper",
        style="mosaic",
        style2=NONE,
        style2_share=0.5,
        mask=None,
        mask2=None,
        preset=preset.name,
        max_dim=size,
        optimizer=preset.optimizer,
        steps=choose(preset.steps, 8),
        learning_rate=preset.learning_rate,
        content_weight=preset.content_weight,
        style_weight=preset.style_weight,
        tv_weight=preset.tv_weight,
        content_layer=next(iter(preset.content_layers)),
        style_layers=tuple(preset.style_layers),
        init=preset.init,
        preserve_colors=None,  # or "luminance", "histogram" (NO_COLORS is accepted for None)
        style_scale=1.0,
        seed=0,
        scales="auto",
        preview_every=choose(5, 2),
        weights=None,
        save_path="studio.png",
    )


def png_bytes(image) -> bytes:
    """PNG file bytes of an image float32 [1, H, W, 3] or [H, W, 3] in [0, 1] (for widgets.Image)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def loss_plot_png(history, title: str = "Loss by term") -> bytes:
    """PNG bytes of the total, content, style and TV loss (log scale) against the step.

    history: StepRecords. Terms that are 0 throughout are left out (a log axis cannot show 0);
    dotted lines mark where a coarse-to-fine run moves to the next scale. Drawn on a
    matplotlib Figure with the Agg canvas, without pyplot, so a worker thread may call it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter, NullFormatter

    fig = Figure(figsize=(4.2, 3.1), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for part, style in (("total", "-"), ("content", "--"), ("style", "--"), ("tv", ":")):
        points = [(r.step, getattr(r, part)) for r in history if getattr(r, part) > 0]
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], style, label=part)
    for previous, record in zip(history, history[1:], strict=False):
        if record.scale != previous.scale:
            ax.axvline(record.step, color="0.6", lw=0.8, ls=":")
    ax.set_yscale("log")
    # plain-text tick labels: the default ones go through mathtext, which warns on some versions
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step (Adam) or iteration (L-BFGS)")
    ax.set_ylabel("weighted loss (log scale)")
    ax.set_title(title, fontsize=10)
    if ax.lines:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _plan(height: int, width: int, steps: int, optimizer: str, scales) -> list[tuple[int, int]]:
    """(steps, pixels) of each scale stylize will run, coarse to fine, as stylize plans them."""
    if scales == "auto" and optimizer != "lbfgs":
        scales = None  # stylize: coarse to fine is for L-BFGS only
    sizes = scale_sizes(height, width, scales)
    per_scale = _steps_per_scale(steps, len(sizes), None)
    return [(n, h * w) for n, (h, w) in zip(per_scale, sizes, strict=True)]


def _pixel_steps(plan: list[tuple[int, int]], step: int) -> int:
    """The work of the first ``step`` steps of ``plan``, in pixel-steps: a step costs about its
    scale's pixel count, so a 512 px step counts 4 times a 256 px one."""
    done = 0
    for n, pixels in plan:
        done += min(n, max(step, 0)) * pixels
        step -= n
    return done


def _free_name(path: Path) -> Path:
    """``path`` if no file is there, else the first free ``stem-2.ext``, ``stem-3.ext``, ..."""
    candidate, k = path, 2
    while candidate.exists():
        candidate, k = path.with_name(f"{path.stem}-{k}{path.suffix}"), k + 1
    return candidate


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class _ImagePicker:
    """A Dropdown (samples, "upload", "file path", optionally "none"), a FileUpload and a path.

    ``load(max_dim)`` returns float32 [1, H, W, 3] in [0, 1], or None for "none"; bad input raises
    a StylelibError or ValueError naming ``label`` and the file.
    """

    def __init__(self, widgets, label: str, value, samples, allow_none: bool = False):
        options = ([NONE] if allow_none else []) + list(samples) + [UPLOAD, PATH]
        path = ""
        if value is None:
            value = NONE
        elif value not in options:  # a path given as a default
            value, path = PATH, str(value)
        wide = {"description_width": "initial"}
        self.label = label
        self.choice = widgets.Dropdown(options=options, value=value, description=label, style=wide)
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.path = widgets.Text(value=path, placeholder="path/to/image.jpg", description="path")
        self.box = widgets.HBox([self.choice, self.upload, self.path])
        self.choice.observe(self._show, names="value")
        self._show()

    def _show(self, change=None) -> None:
        self.upload.layout.display = "" if self.choice.value == UPLOAD else "none"
        self.path.layout.display = "" if self.choice.value == PATH else "none"

    def grab(self):
        """What to load, read on the caller's thread: ("sample", name), ("upload", the FileUpload's value),
        ("path", text) or None."""
        choice = self.choice.value
        if choice == NONE:
            return None
        if choice == UPLOAD:
            return (UPLOAD, self.upload.value)
        if choice == PATH:
            return (PATH, self.path.value.strip())
        return ("sample", choice)

    def file(self) -> Path | None:
        """The file the path box names when "file path" is chosen (Save never writes over it)."""
        if self.choice.value == PATH and self.path.value.strip():
            return Path(self.path.value.strip()).expanduser()
        return None

    def load(self, grabbed, max_dim: int | None):
        """Load what grab() returned. See the class docstring."""
        if grabbed is None:
            return None
        try:
            return self._load(*grabbed, max_dim)
        except ImageError as error:  # say which picker it came from
            raise ImageError(f"{self.label}: {error}") from None

    def _load(self, kind: str, value, max_dim: int | None):
        if kind == "sample":
            from .samples import sample_image

            return sample_image(value, max_dim=max_dim)
        if kind == UPLOAD:
            from .display import uploaded_images

            images = uploaded_images(value, max_dim=max_dim)
            if not images:
                raise ValueError(f"{self.label}: no file uploaded yet (press Upload and pick one)")
            return images[-1][1]
        if not value:
            raise ValueError(f"{self.label}: type the path of an image file")
        return load_image(Path(value).expanduser(), max_dim=max_dim)


class Studio:
    """Style transfer with widgets: inputs, settings, Run / Stop / Save, a live preview.

    ``Studio(**defaults)`` builds the widgets; keywords override default_settings() (e.g.
    ``max_dim=96, steps=20, weights="random"``). In a notebook, a Studio shows itself; its widget
    tree is ``.widget``. Methods: run() (start a run in a thread; refused while a run of this or
    another studio of the kernel is going), stop() (end it after the step under way, keeping the
    image; with no run of its own, end another studio's), wait(timeout) (join the thread),
    save(path, overwrite) (never over an existing file unless asked, never over an input).
    Attributes: ``status`` (the one-line state, starting with a word of STATUS_WORDS), ``result``
    (the last run's StylizeResult; None before a run, while one goes, and after one failed).
    Introduced in notebook 09.
    """

    def __init__(self, **defaults):
        import ipywidgets as widgets

        settings = default_settings()
        unknown = set(defaults) - set(settings)
        if unknown:
            raise TypeError(
                f"Studio: unknown setting(s) {sorted(unknown)}; valid: {sorted(settings)}"
            )
        settings.update(defaults)
        if settings["preserve_colors"] is None:
            settings["preserve_colors"] = NO_COLORS
        self.defaults = settings
        self.result = None
        self.error = None
        self.status = ""
        self._thread = None
        self._stop_event = threading.Event()
        self._ended = True  # the worker has written its last status (Stop then does nothing)
        self._lock = threading.RLock()  # the status line's last word: run, stop and the worker
        self._records = []
        self._inputs_used: list[Path] = []  # the files the last run read (Save never writes there)
        self._weights = settings["weights"]
        self._build(widgets, settings)
        ready = "Ready: pick the images, set the sliders, press Run"
        if running_studios():
            ready += (
                "; another studio of this kernel is still running (shown by an earlier run of "
                "this cell?): press Stop here to end it"
            )
        self._set_status(ready)
        _STUDIOS.add(self)

    # ----- building -------------------------------------------------------------------------
    def _build(self, widgets, s: dict) -> None:
        wide = {"description_width": "initial"}
        samples = list(SAMPLES)
        self.content = _ImagePicker(widgets, "content", s["content"], samples)
        self.style = _ImagePicker(widgets, "style", s["style"], samples)
        self.style2 = _ImagePicker(widgets, "second style", s["style2"], samples, allow_none=True)
        self.mask = _ImagePicker(widgets, "mask of the style", s["mask"], [], allow_none=True)
        self.mask2 = _ImagePicker(widgets, "mask of style 2", s["mask2"], [], allow_none=True)
        self.style2_share = widgets.FloatSlider(
            value=s["style2_share"],
            min=0.0,
            max=1.0,
            step=0.05,
            style=wide,
            description="share of style 2",
        )
        online = ", ".join(ONLINE_SAMPLES)
        images = widgets.VBox(
            [
                widgets.HTML(
                    "Samples, an upload or a file path. Masks: white where that style goes "
                    f"(notebook 08). {online}: downloaded once, else a built-in stand-in."
                ),
                self.content.box,
                self.style.box,
                self.style2.box,
                self.style2_share,
                self.mask.box,
                self.mask2.box,
            ]
        )
        layers = _conv_layers()

        def control_for(kind, key: str, label: str, **options):
            """A widget of class ``kind`` showing setting ``key``, labelled ``label``."""
            options.setdefault("value", s[key])
            return kind(description=label, style=wide, **options)

        def log_slider(key: str, low: int, high: int, label: str, **options):
            """A slider over powers of ten, 10**low to 10**high (the weights span decades)."""
            return control_for(
                widgets.FloatLogSlider, key, label, base=10, min=low, max=high, **options
            )

        Dropdown, IntSlider = widgets.Dropdown, widgets.IntSlider
        self.preset = control_for(Dropdown, "preset", "preset", options=sorted(PRESETS))
        self.max_dim = control_for(
            IntSlider, "max_dim", "size (px)", min=MIN_SIDE, max=1024, step=16
        )
        self.optimizer = control_for(Dropdown, "optimizer", "optimiser", options=list(OPTIMIZERS))
        self.steps = control_for(IntSlider, "steps", "steps", min=1, max=2000)
        self.learning_rate = log_slider("learning_rate", -4, 0, "learning rate (Adam)")
        self.content_weight = log_slider("content_weight", -4, 8, "content weight α")
        self.style_weight = log_slider("style_weight", -6, 8, "style weight β")
        self.tv_on = widgets.Checkbox(
            value=s["tv_weight"] > 0, description="total variation", indent=False
        )
        # off means 0 (a log slider cannot show 0); the slider then keeps the tutorial's 30
        self.tv_weight = log_slider("tv_weight", -3, 4, "TV weight", value=s["tv_weight"] or 30.0)
        self.content_layer = control_for(Dropdown, "content_layer", "content layer", options=layers)
        self.style_layers = control_for(
            widgets.SelectMultiple,
            "style_layers",
            "style layers",
            options=layers,
            rows=8,
            value=tuple(s["style_layers"]),
        )
        self.init = control_for(Dropdown, "init", "start from", options=list(INITS))
        self.preserve_colors = control_for(
            Dropdown,
            "preserve_colors",
            "keep the content's colours",
            options=[NO_COLORS] + list(control.PRESERVE_COLORS),
        )
        self.style_scale = control_for(
            widgets.FloatLogSlider, "style_scale", "style scale", base=2, min=-2, max=2, step=0.25
        )
        self.seed = control_for(widgets.IntText, "seed", "seed")
        self.scales = control_for(
            Dropdown,
            "scales",
            "scales (coarse to fine)",
            options=[(str(c), c) for c in SCALE_CHOICES],
        )
        self.preview_every = control_for(
            IntSlider, "preview_every", "preview every (steps)", min=1, max=100
        )
        self.preset.observe(self._preset_changed, names="value")
        self.optimizer.observe(self._optimizer_shown, names="value")
        self.tv_on.observe(self._show_tv, names="value")
        self._show_tv()
        self._optimizer_shown()
        settings = widgets.VBox(
            [
                widgets.HBox([self.preset, self.optimizer, self.max_dim]),
                widgets.HBox([self.steps, self.learning_rate]),
                self.content_weight,
                self.style_weight,
                widgets.HBox([self.tv_on, self.tv_weight]),
                widgets.HBox([self.content_layer, self.style_layers]),
                widgets.HBox([self.init, self.preserve_colors]),
                widgets.HBox([self.style_scale, self.scales]),
                widgets.HBox([self.seed, self.preview_every]),
            ]
        )
        self.tabs = widgets.Tab(children=[images, settings])
        self.tabs.set_title(0, "Images")
        self.tabs.set_title(1, "Settings")

        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self.save_button = widgets.Button(description="Save", icon="save")
        self.download_button = widgets.Button(description="Download", icon="download")
        self.save_path = widgets.Text(value=s["save_path"], description="save as", style=wide)
        self.overwrite = widgets.Checkbox(
            value=False, description="overwrite", indent=False, layout=widgets.Layout(width="auto")
        )
        for widget, name in (
            (self.run_button, "run"),
            (self.stop_button, "stop"),
            (self.save_button, "save"),
            (self.download_button, "download"),
            (self.save_path, "save-path"),
            (self.overwrite, "overwrite"),
        ):
            widget.add_class(f"stylelib-{name}")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.save_button.on_click(lambda _: self.save())
        self.download_button.on_click(lambda _: self.download())
        self._colab_files = _colab_files()
        if self._colab_files is None:
            self.download_button.layout.display = "none"

        self.status_html = widgets.HTML()
        self.status_html.add_class("stylelib-status")
        self.banner = widgets.HTML(
            '<div style="background:#fde2e2;border:1px solid #c33;padding:6px;'
            f'font-weight:bold">{html.escape(UNTRAINED_TEXT)}</div>'
        )
        self.banner.add_class("stylelib-untrained")
        self.preview = widgets.Image(format="png", width=320)
        self.preview.add_class("stylelib-preview")
        self.loss = widgets.Image(format="png", width=340)
        self.loss.add_class("stylelib-loss")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress")
        self.progress.add_class("stylelib-progress")
        self.time_left = widgets.Label(value="")
        self.weights_label = widgets.HTML()
        self.log = widgets.Textarea(
            value="", rows=10, disabled=True, layout=widgets.Layout(width="100%")
        )
        details = widgets.Accordion(children=[self.log], selected_index=None)
        details.set_title(0, "Details (tracebacks of unexpected errors)")
        self._show_weights()

        buttons = widgets.HBox(
            [
                self.run_button,
                self.stop_button,
                self.save_path,
                self.overwrite,
                self.save_button,
                self.download_button,
            ]
        )
        self.widget = widgets.VBox(
            [
                self.tabs,
                buttons,
                self.status_html,
                widgets.HBox([self.progress, self.time_left]),
                self.banner,
                widgets.HBox([self.preview, self.loss]),
                self.weights_label,
                details,
            ]
        )
        self.widget.add_class("stylelib-studio")

    def _preset_changed(self, change) -> None:
        """Set α, β, TV, the layers and the learning rate to the new preset's values. The preset
        also decides what has no control here (the loss formulation, the TV kind, Adam's β1 and
        ε); the steps stay as the user set them."""
        preset = make_preset(change["new"], optimizer=self.optimizer.value)
        self.content_weight.value = preset.content_weight
        self.style_weight.value = preset.style_weight
        self.tv_on.value = preset.tv_weight > 0
        if preset.tv_weight > 0:
            self.tv_weight.value = preset.tv_weight
        self.content_layer.value = next(iter(preset.content_layers))
        self.style_layers.value = tuple(preset.style_layers)
        self.learning_rate.value = preset.learning_rate

    def _optimizer_shown(self, change=None) -> None:
        """Show the learning rate for Adam only. Steps are left as the user set them (neither
        the optimiser nor the preset changes them)."""
        self.learning_rate.layout.display = "" if self.optimizer.value == "adam" else "none"

    def _show_tv(self, change=None) -> None:
        self.tv_weight.layout.display = "" if self.tv_on.value else "none"

    def _show_weights(self) -> None:
        try:
            info = weights_in_use(self._weights)
        except StylelibError as error:
            self.weights_label.value = html.escape(str(error))
            self.banner.layout.display = "none"
            return
        device = "GPU" if gpu_available() else "CPU"
        self.weights_label.value = f"<small>{html.escape(str(info))} Runs on the {device}.</small>"
        self.banner.layout.display = "none" if info.trained else ""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ----- status ---------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        """Show one line; ``text`` starts with a word of STATUS_WORDS."""
        text = " ".join(str(text).split())
        self.status = text
        colour = "#b00" if text.startswith("Error:") else "#222"
        self.status_html.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _error(self, error: BaseException) -> None:
        self.error = error
        if isinstance(error, (StylelibError, ValueError)):
            self._set_status(f"Error: {error}")
        else:
            self.log.value = "".join(traceback.format_exception(error))
            self._set_status(
                f"Error: unexpected {type(error).__name__}: {error} (traceback under Details)"
            )

    # ----- what a run uses --------------------------------------------------------------------
    def stylize_kwargs(self) -> dict:
        """The keywords of stylize the widgets say, except content, style and masks."""
        tv = self.tv_weight.value if self.tv_on.value else 0.0
        kwargs = dict(
            preset=self.preset.value,
            optimizer=self.optimizer.value,
            steps=int(self.steps.value),
            content_weight=float(self.content_weight.value),
            style_weight=float(self.style_weight.value),
            tv_weight=float(tv),
            content_layers=[self.content_layer.value],
            style_layers=list(self.style_layers.value),
            init=self.init.value,
            preserve_colors=None
            if self.preserve_colors.value == NO_COLORS
            else self.preserve_colors.value,
            style_scale=float(self.style_scale.value),
            seed=int(self.seed.value),
            scales=self.scales.value,
            max_dim=int(self.max_dim.value),
            weights=self._weights,
        )
        if self.optimizer.value == "adam":
            kwargs["learning_rate"] = float(self.learning_rate.value)
        return kwargs

    def _grab(self) -> dict:
        """Everything a run needs from the widgets, read on the caller's (the kernel's) thread."""
        return dict(
            kwargs=self.stylize_kwargs(),
            pickers={
                name: (picker, picker.grab())
                for name, picker in (
                    ("content", self.content),
                    ("style", self.style),
                    ("style2", self.style2),
                    ("mask", self.mask),
                    ("mask2", self.mask2),
                )
            },
            share=float(self.style2_share.value),
            every=max(1, int(self.preview_every.value)),
        )

    def _inputs(self, grabbed: dict) -> dict:
        """Load the images and masks: stylize's content, style, style_blend and masks."""
        kwargs = grabbed["kwargs"]
        size = kwargs["max_dim"]
        loaded = {  # masks at their own size: load_mask resizes them to the content's
            name: picker.load(value, None if name.startswith("mask") else size)
            for name, (picker, value) in grabbed["pickers"].items()
        }
        if not kwargs["style_layers"]:
            raise ValueError("style layers: select at least one layer (Settings tab)")
        content, styles = loaded["content"], [loaded["style"]]
        masks = [loaded["mask"]]
        blend = None
        if loaded["style2"] is not None:
            styles.append(loaded["style2"])
            masks.append(loaded["mask2"])
            blend = [1.0 - grabbed["share"], grabbed["share"]]
        elif loaded["mask2"] is not None:
            raise ValueError("mask of style 2: choose a second style, or set this mask to 'none'")
        height, width = content.shape[1:3]
        if all(m is None for m in masks):
            masks = None
        else:  # a style without a mask applies everywhere
            from ._tf import tf

            masks = [tf.ones([height, width]) if m is None else control.luminance(m) for m in masks]
        return dict(
            content=content,
            style=styles if len(styles) > 1 else styles[0],
            style_blend=blend,
            masks=masks,
        )

    # ----- Run, Stop, Save --------------------------------------------------------------------
    def running(self) -> bool:
        """True while a run's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> bool:
        """Start a run in a background thread with the widgets' settings; False if refused.

        Refused (status line, nothing queued) while a run of this studio or of another studio of
        this kernel is going. Errors end the run with a status line starting "Error:" and leave
        the studio usable. Settings changed during a run apply at the next Run.
        """
        with self._lock:
            if self.running():
                if self._stop_event.is_set():
                    self._set_status("Running: stopping; press Run again when it has stopped")
                else:
                    self._set_status("Running: a run is already going; press Stop to end it first")
                return False
            if running_studios():
                self._set_status(
                    "Error: another studio of this kernel is running (shown by an earlier run of "
                    "this cell?); press Stop here to end it, or call stylelib.studio.stop_all()"
                )
                return False
            try:
                grabbed = self._grab()
            except Exception as error:  # a widget in a state it should not be in
                self._error(error)
                return False
            self._stop_event = threading.Event()
            self._ended = False
            self.error = None
            self.result = None  # Save must not write an older run's image after this one fails
            self._inputs_used = self._input_files()
            self.log.value = ""
            self.save_button.disabled = True
            self.run_button.disabled = True
            self._set_status("Running: loading the images")
            self._thread = threading.Thread(
                target=self._work,
                args=(grabbed, self._stop_event),
                name="stylelib-studio",
                daemon=True,
            )
            self._thread.start()
        return True

    def _input_files(self) -> list[Path]:
        """The image files the pickers name now (content, styles, masks given as paths)."""
        pickers = (self.content, self.style, self.style2, self.mask, self.mask2)
        return [path for path in (picker.file() for picker in pickers) if path is not None]

    def _running_status(self, stop: threading.Event, text: str) -> None:
        """Set a "Running" status unless Stop was pressed (then "stopping" stays)."""
        with self._lock:
            if not stop.is_set():
                self._set_status(text)

    def _work(self, grabbed: dict, stop: threading.Event) -> None:
        """The worker thread: load, run stylize with previews, report; never raises."""
        from .optimize import stylize

        try:
            self._show_weights()
            inputs = self._inputs(grabbed)
            kwargs = grabbed["kwargs"]
            height, width = inputs["content"].shape[1:3]
            plan = _plan(height, width, kwargs["steps"], kwargs["optimizer"], kwargs["scales"])
            total = sum(n for n, _ in plan)
            self._records = []
            self.progress.max = max(1, total)
            self.progress.value = 0
            self.time_left.value = ""
            device = "GPU" if gpu_available() else "CPU"
            if weights_in_use(self._weights).spec == "imagenet" and not cached_imagenet_weights():
                doing = (
                    "downloading the VGG19 weights (about 80 MB, once), then building the targets"
                )
            else:
                doing = "building the targets"
            self._running_status(
                stop, f"Running on the {device}: {doing} (new settings apply at the next Run)"
            )
            every = grabbed["every"]
            first = []  # (time, work) at the first step: the estimate leaves out tracing

            def callback(step, image, record):
                self._records.append(record)
                self.progress.value = min(step, self.progress.max)
                now, work = time.perf_counter(), _pixel_steps(plan, step)
                if not first:
                    first.append((now, work))
                    self.time_left.value = f"{step} of {total} steps"
                else:
                    rate = (now - first[0][0]) / max(work - first[0][1], 1)
                    left = rate * (_pixel_steps(plan, total) - work)
                    self.time_left.value = f"{step} of {total} steps, about {_duration(left)} left"
                if step % every == 0 or step >= total:
                    self.preview.value = png_bytes(image)
                    self.loss.value = loss_plot_png(self._records)
                self._running_status(
                    stop,
                    f"Running on the {device}: step {step} of {total}, loss {record.total:.4g} "
                    "(new settings apply at the next Run)",
                )

            result = stylize(
                inputs.pop("content"),
                inputs.pop("style"),
                **inputs,
                **kwargs,
                callback=callback,
                callback_every=1,
                stop=stop,
                quiet=True,
            )
        except NonFiniteLossError as error:
            if error.image is not None:
                self.preview.value = png_bytes(error.image)
            with self._lock:
                self._ended = True
                self._error(error)
        except Exception as error:  # noqa: BLE001 - every failure becomes one status line
            with self._lock:
                self._ended = True
                self._error(error)
        else:
            self.preview.value = png_bytes(result.image)
            self.loss.value = loss_plot_png(result.history)
            last = result.history[-1]
            took = _duration(result.seconds)
            with self._lock:
                self._ended = True
                self.result = result
                if result.extra.get("stopped"):
                    at = result.extra["stopped_at"]
                    self.time_left.value = f"stopped at step {at['step']} of {at['of']}"
                    height, width = at["size"]
                    scale = (
                        f"scale {at['scale'] + 1} of {at['scales']}, " if at["scales"] > 1 else ""
                    )
                    best = "" if at["best_step"] is None else f" (step {at['best_step']})"
                    self._set_status(
                        f"Stopped after {at['step']} of {at['of']} steps ({scale}{width}x{height} "
                        f"px, {took}); showing the image with the lowest loss at this scale{best}; "
                        "Save keeps it"
                    )
                else:
                    self.progress.value = self.progress.max
                    self.time_left.value = f"{last.step} of {total} steps"
                    self._set_status(f"Done: {last.step} steps in {took}, loss {last.total:.4g}")
        finally:
            self.save_button.disabled = False
            self.run_button.disabled = False

    def stop(self) -> None:
        """End the run after the step under way; it keeps the image with the lowest loss at the
        scale under way. With no run of its own, end the runs of the kernel's other studios (a
        studio shown by an earlier run of the same cell)."""
        with self._lock:
            if self.running():
                if not self._ended:  # not after the worker's last word
                    self._stop_event.set()
                    self._set_status("Running: stopping after this step")
                return
            others = running_studios()
            if others:
                for other in others:
                    other.stop()
                self._set_status(
                    f"Ready: asked {len(others)} run(s) of another studio of this kernel to stop "
                    "after the step under way; press Run when they have ended"
                )
            elif not self.status.startswith(("Stopped", "Done", "Saved to ", "Error:")):
                self._set_status("Ready: nothing is running")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run's thread to end (at most ``timeout`` s); True if it has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running()

    def save(self, path: str | os.PathLike | None = None, overwrite: bool | None = None):
        """Save the last result as PNG (or JPEG, by extension) to ``path`` (default: the
        save-path box), atomically; the status says "Saved to ABSOLUTE PATH" or "Error: ...".

        An existing file is replaced only with ``overwrite`` (None: the overwrite box says), and
        never one of the run's input images. A relative path is relative to the kernel's working
        folder. Returns the absolute path written, or None.
        """
        if path is not None:
            self.save_path.value = str(path)
        replace = self.overwrite.value if overwrite is None else bool(overwrite)
        if self.running():
            self._set_status("Error: a run is going; press Stop first, then Save")
            return None
        if self.result is None:
            if self.error is not None:
                self._set_status("Error: nothing to save: the last run ended with an error")
            else:
                self._set_status("Error: nothing to save yet; press Run first")
            return None
        text = self.save_path.value.strip()
        if not text:
            self._set_status("Error: type a file name to save to, e.g. result.png")
            return None
        target = Path(text).expanduser().resolve()
        if any(_same_file(target, used) for used in self._inputs_used + self._input_files()):
            self._set_status(
                f"Error: {target} is one of the run's input images; choose another name"
            )
            return None
        if target.is_file() and not replace:
            self._set_status(
                f"Error: {target} exists; tick overwrite to replace it, or choose another name "
                f"({_free_name(target).name} is free)"
            )
            return None
        try:
            written = save_image(self.result.image, target)
        except (StylelibError, ValueError, OSError) as error:
            self._set_status(f"Error: {error}")
            return None
        self._set_status(f"Saved to {written}")
        return written

    def download(self) -> None:
        """On Colab: save (see save) and send the file to the browser."""
        if self._colab_files is None:
            self._set_status("Error: Download works on Colab only; use Save")
            return
        written = self.save()
        if written is None:
            return
        try:
            self._colab_files.download(str(written))
        except Exception as error:  # noqa: BLE001 - e.g. the browser blocked it: one status line
            self._error(error)


def _colab_files():
    """google.colab.files when running on Colab, else None."""
    try:
        from google.colab import files
    except ImportError:
        return None
    return files


def studio(**defaults) -> Studio:
    """Build a Studio (keywords as for Studio), show it, and return it.

    Assign the result (``s = studio()``): a bare ``studio()`` as a cell's last line would show it
    twice. Introduced in notebook 09.
    """
    from IPython.display import display

    instance = Studio(**defaults)
    display(instance)
    return instance
