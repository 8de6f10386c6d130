"""The VGG19 network: weights resolution, preprocessing and the multi-layer feature extractor.

Introduced in notebook 02.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._tf import tf
from .errors import LayerError, WeightsError

#: Environment variable read when ``weights=None``: "imagenet", "random" or a path to a weights file.
WEIGHTS_ENV = "STYLELIB_VGG19_WEIGHTS"

#: Seed of the untrained ("random") weights, so that every run and every machine gets the same net.
RANDOM_WEIGHTS_SEED = 0

#: The file Keras downloads for VGG19 without its classifier (``include_top=False``), its MD5 hash
#: as Keras checks it (``file_hash`` in keras/src/applications/vgg19.py) and its size in MB.
IMAGENET_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_WEIGHTS_MD5 = "253f8cb515780f3b799900260a226db6"
IMAGENET_WEIGHTS_MB = 80

#: Per-channel means subtracted by VGG19's "caffe" preprocessing, in BGR order, on the 0-255 scale.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)

#: The content layer of the TensorFlow tutorial, and of this series unless stated otherwise.
DEFAULT_CONTENT_LAYERS = ("block5_conv2",)
#: The style layers of Gatys et al. (relu1_1 ... relu5_1), as Keras names them.
DEFAULT_STYLE_LAYERS = tuple(f"block{i}_conv1" for i in range(1, 6))


@dataclass(frozen=True)
class WeightsInfo:
    """Which VGG19 weights are in use, and where the choice came from.

    Attributes:
        spec: "imagenet", "random", or the absolute path of a weights file.
        trained: False only for "random" (untrained) weights.
        origin: "argument", "environment" (``STYLELIB_VGG19_WEIGHTS``) or "default".
    """

    spec: str
    trained: bool
    origin: str

    def __str__(self) -> str:
        where = {
            "argument": "passed as an argument",
            "environment": f"from the environment variable {WEIGHTS_ENV}",
            "default": "the default",
        }[self.origin]
        if self.spec == "random":
            return (
                f"VGG19 weights: RANDOM (untrained, seed {RANDOM_WEIGHTS_SEED}, each layer scaled "
                f"to a fixed activation size), {where}. Images "
                "and numbers made with them show the mechanics of the method, NOT what the "
                "ImageNet-trained network produces."
            )
        if self.spec == "imagenet":
            cached = cached_imagenet_weights()
            if cached is not None:
                return f"VGG19 weights: ImageNet (trained), cached by Keras at {cached}, {where}."
            return (
                f"VGG19 weights: ImageNet (trained), {where}. NOT downloaded yet: the first use "
                f"needs the internet to download {IMAGENET_WEIGHTS_FILE} (about "
                f"{IMAGENET_WEIGHTS_MB} MB) into {keras_weights_dir()}. " + _offline_advice()
            )
        return f"VGG19 weights: file {self.spec} (assumed trained), {where}."


def keras_weights_dir() -> Path:
    """The folder where Keras caches downloaded weights: ``$KERAS_HOME/models``, else
    ``~/.keras/models`` (``/tmp/.keras/models`` when the home folder cannot be written, as Keras
    does). weights_in_use reports whether the ImageNet file is there."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = Path("~").expanduser()
        home = base / ".keras" if os.access(base, os.W_OK) else Path("/tmp/.keras")
    return Path(home).expanduser() / "models"


def cached_imagenet_weights() -> Path | None:
    """The ImageNet VGG19 weights file in the Keras cache, or None if it was never downloaded."""
    path = keras_weights_dir() / IMAGENET_WEIGHTS_FILE
    return path if path.is_file() else None


def _offline_advice() -> str:
    """What to do without internet: copy the file, point at it, or use untrained weights."""
    return (
        f"Offline, do one of: copy {IMAGENET_WEIGHTS_FILE} (MD5 {IMAGENET_WEIGHTS_MD5}) from a "
        f"machine that has it into {keras_weights_dir()}; set "
        f"{WEIGHTS_ENV}=/path/to/{IMAGENET_WEIGHTS_FILE} (or pass weights=that path); or use "
        "weights='random' for an untrained network (results do not show the real method)."
    )


def resolve_weights(weights: str | os.PathLike | None = None) -> WeightsInfo:
    """Decide which weights ``weights`` means, without loading anything.

    ``None`` means ``$STYLELIB_VGG19_WEIGHTS`` if set, else "imagenet". A path must exist.
    Raises WeightsError for a missing file or an unknown word. Introduced in notebook 02.
    """
    origin = "argument"
    if weights is None:
        env = os.environ.get(WEIGHTS_ENV, "").strip()
        weights, origin = (env, "environment") if env else ("imagenet", "default")
    if isinstance(weights, str) and weights.lower() in ("imagenet", "random"):
        spec = weights.lower()
        return WeightsInfo(spec=spec, trained=spec != "random", origin=origin)
    path = Path(weights).expanduser()
    source = f"{WEIGHTS_ENV}={weights}" if origin == "environment" else f"weights={weights!r}"
    if not path.exists():
        raise WeightsError(
            f"{source}: no such weights file. Use 'imagenet', 'random', or the path of a Keras "
            "VGG19 weights file (e.g. vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5)."
        )
    if path.is_dir():
        raise WeightsError(f"{source}: is a directory, not a weights file")
    return WeightsInfo(spec=str(path.resolve()), trained=True, origin=origin)


def weights_in_use(weights: str | os.PathLike | None = None) -> WeightsInfo:
    """The weights a call with ``weights`` would use; print it to tell readers. See resolve_weights."""
    return resolve_weights(weights)


#: Untrained weights, calibrated (see calibrate_random_vgg19): the root-mean-square (RMS) that each
#: convolution's post-ReLU output has on the calibration images. Every layer up to block5_conv1
#: (the last style layer) gets RANDOM_FEATURE_RMS; the layers after it, which only the content
#: term of the default presets reads, get RANDOM_CONTENT_RMS. Both were chosen by measurement
#: (benchmarks/untrained.py) so that the presets' weights, unchanged, give a result with the
#: content's layout and the style's colours and texture.
RANDOM_FEATURE_RMS = 300.0
RANDOM_CONTENT_RMS = 10.0

#: The offline sample images (stylelib.samples) the untrained network is calibrated on, and the
#: longer side (px) they are drawn at. One photograph and four drawings.
CALIBRATION_SAMPLES = ("hopper", "landscape", "mosaic", "swirls", "waves")
CALIBRATION_SIZE = 64


def random_feature_targets() -> dict[str, float]:
    """Layer name -> the RMS calibrate_random_vgg19 gives its output (see RANDOM_FEATURE_RMS)."""
    names = [row["name"] for row in vgg19_layer_table() if row["kind"].startswith("conv")]
    last_style = names.index("block5_conv1")
    return {
        name: RANDOM_FEATURE_RMS if i <= last_style else RANDOM_CONTENT_RMS
        for i, name in enumerate(names)
    }


def calibration_images(size: int = CALIBRATION_SIZE) -> list[tf.Tensor]:
    """The images the untrained network is calibrated on: CALIBRATION_SAMPLES, each float32
    [1, H, W, 3] in [0, 1] with longer side ``size`` (made offline, the same on every machine)."""
    from .samples import sample_image  # samples imports images only: no import cycle

    return [sample_image(name, max_dim=size) for name in CALIBRATION_SAMPLES]


def _conv_outputs(model: tf.keras.Model, images, gains=None):
    """Yield (conv layer, its post-ReLU outputs on each image, their RMS) from input to output.

    ``gains(layer, rms)``, if given, returns the factor by which that layer's kernel has just been
    multiplied; the outputs passed on are scaled to match (exact: with zero biases ReLU(g·z) =
    g·ReLU(z) for g > 0)."""
    xs = [vgg_preprocess(image) for image in images]
    for layer in model.layers[1:]:
        xs = [layer(x) for x in xs]
        if isinstance(layer, tf.keras.layers.Conv2D):
            squares = sum(float(tf.reduce_sum(tf.square(x))) for x in xs)
            rms = float(np.sqrt(squares / sum(int(tf.size(x)) for x in xs)))
            if gains is not None:
                gain = gains(layer, rms)
                xs = [x * gain for x in xs]
                rms *= gain
            yield layer, rms


def feature_rms(model: tf.keras.Model, images) -> dict[str, float]:
    """Layer name -> RMS of that convolution's post-ReLU output, pooled over every position,
    channel and image. ``images``: float32 [1, H, W, 3] in [0, 1] tensors, any sizes."""
    return {layer.name: rms for layer, rms in _conv_outputs(model, images)}


def _round_gain(gain: float) -> float:
    """Three significant digits: rounding differences between machines do not change the net."""
    return float(f"{gain:.3g}")


def calibrate_random_vgg19(model: tf.keras.Model, images, targets: dict[str, float]) -> dict:
    """Scale each convolution's kernel, input to output, so that its output has the target RMS.

    Keras' initialisation (Glorot uniform) keeps the variance of a layer's input only for linear
    layers of equal fan-in and fan-out; after a ReLU it halves it, so through VGG19's 16 layers
    the activations shrink: their RMS on the calibration images falls from 15 (block1_conv1) to
    0.24 (block5_conv1). The style and content terms then measure almost nothing next to the
    total variation, and the optimiser only blurs. Scaling each random layer so that its activations keep a fixed size on natural
    images (data-dependent initialisation in the manner of LSUV, Mishkin & Matas, ICLR 2016)
    restores the balance; untrained networks scaled so transfer texture (He, Wang & Hopcroft,
    NeurIPS 2016; Ustyuzhaninov et al., ICLR 2017). Biases stay zero, so each layer's gain
    multiplies its output exactly. Returns layer name -> gain (rounded to 3 significant digits).
    The README's section on untrained weights shows what it changes (benchmarks/untrained.py).
    """
    gains: dict[str, float] = {}

    def gain(layer, rms):
        if not rms > 0:
            raise ValueError(f"{layer.name}: all outputs are 0 on the calibration images")
        kernel, bias = layer.get_weights()
        if np.any(bias):
            raise ValueError(f"{layer.name}: calibration needs zero biases")
        gains[layer.name] = _round_gain(targets[layer.name] / rms)
        layer.set_weights([kernel * np.float32(gains[layer.name]), bias])
        return gains[layer.name]

    for _ in _conv_outputs(model, images, gain):
        pass
    return gains


def _random_weights(model: tf.keras.Model, seed: int, calibrate: bool = True) -> None:
    """Keras' default initialisation of VGG19 (Glorot-uniform kernels, zero biases), drawn from a
    seeded NumPy generator so that every machine and TensorFlow version gets the same network;
    then (``calibrate``) each layer scaled by calibrate_random_vgg19 on calibration_images()."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            kh, kw, c_in, c_out = kernel.shape
            limit = np.sqrt(6.0 / (kh * kw * c_in + kh * kw * c_out))
            new_kernel = rng.uniform(-limit, limit, kernel.shape).astype(np.float32)
            layer.set_weights([new_kernel, np.zeros_like(bias)])
    if calibrate:
        calibrate_random_vgg19(model, calibration_images(), random_feature_targets())


#: The VGG19 built for each weights spec, shared by every caller (load_vgg19).
_MODEL_CACHE: dict[str, tf.keras.Model] = {}
#: The float16 copy of each cached model (_float16_vgg19): spec -> (the model copied, its copy).
_FLOAT16_CACHE: dict[str, tuple[tf.keras.Model, tf.keras.Model]] = {}
#: Held while a shared model is built or an extractor is cut from one, so that threads asking for
#: the same weights at once build the model once and all get that one (re-entrant, so that code
#: run during a build may ask for a model without deadlocking).
_MODEL_LOCK = threading.RLock()


@contextlib.contextmanager
def _keras_dtype_policy(name: str):
    """Build Keras layers with the dtype policy ``name``, then restore the caller's.

    Keras 3 keeps its global policy per thread: without this, a model built by a thread whose user
    had set "mixed_float16" would be float16 and then shared, through the cache, with every thread.
    """
    policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(policy)


def _build(info: WeightsInfo) -> tf.keras.Model:
    """A new float32 VGG19 without its classifier, with the weights ``info`` names."""
    with _keras_dtype_policy("float32"):
        return _build_vgg19(info)


def _build_vgg19(info: WeightsInfo) -> tf.keras.Model:
    vgg19 = tf.keras.applications.VGG19
    if info.spec == "random":
        model = vgg19(include_top=False, weights=None)
        _random_weights(model, RANDOM_WEIGHTS_SEED)
        return model
    if info.spec == "imagenet":
        try:
            return vgg19(include_top=False, weights="imagenet")
        except Exception as exc:  # Keras raises a bare Exception for "URL fetch failure"
            raise WeightsError(
                "ImageNet VGG19 weights are not available: Keras could not download "
                f"{IMAGENET_WEIGHTS_FILE} and none is cached in {keras_weights_dir()} "
                f"({str(exc).splitlines()[0][:200]}). Connect to the internet once (Keras caches "
                "the file). " + _offline_advice()
            ) from None
    model = vgg19(include_top=False, weights=None)
    try:
        model.load_weights(info.spec)
    except Exception as exc:
        raise WeightsError(
            f"weights file '{info.spec}' could not be loaded into VGG19 without its classifier "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}). "
            "Expected the Keras file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 or one "
            "written by save_weights() of stylelib.load_vgg19()."
        ) from None
    return model


def load_vgg19(weights: str | os.PathLike | None = None) -> tf.keras.Model:
    """The Keras VGG19 without its classifier, frozen (``trainable=False``).

    Args:
        weights: "imagenet" (downloaded and cached by Keras), a path to a local weights file, or
            "random" (untrained: seeded Glorot draws, each layer scaled by
            calibrate_random_vgg19; the same network everywhere). ``None`` means the
            environment variable ``STYLELIB_VGG19_WEIGHTS`` if set, else "imagenet".

    The model takes BGR mean-subtracted input of any size, [B, H, W, 3], and computes in float32
    whatever Keras dtype policy the caller has set. It is built once per weights choice and then
    shared, also between threads: threads asking at once wait for one build. Never falls back to
    other weights: raises WeightsError with what to do. Introduced in notebook 02.
    """
    info = resolve_weights(weights)
    model = _MODEL_CACHE.get(info.spec)
    if model is None:
        with _MODEL_LOCK:
            model = _MODEL_CACHE.get(info.spec)  # built by another thread while this one waited?
            if model is None:
                model = _build(info)
                model.trainable = False
                _MODEL_CACHE[info.spec] = model
    return model


def gpu_available() -> bool:
    """True when TensorFlow sees a GPU (mixed precision is used only there)."""
    return bool(tf.config.list_physical_devices("GPU"))


def _float16_copy(model: tf.keras.Model) -> tf.keras.Model:
    """The same VGG19 with float16 computation and float32 weights (Keras "mixed_float16")."""
    with _keras_dtype_policy("mixed_float16"):
        copy = tf.keras.applications.VGG19(include_top=False, weights=None)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def _float16_vgg19(spec: str) -> tf.keras.Model:
    """The float16 copy of load_vgg19(spec), made once per model and shared like it.

    The copy takes the weights the model has when it is first asked for."""
    model = load_vgg19(spec)
    with _MODEL_LOCK:
        copied, copy = _FLOAT16_CACHE.get(spec, (None, None))
        if copied is not model:  # first use, or the cached model was replaced
            copy = _float16_copy(model)
            _FLOAT16_CACHE[spec] = (model, copy)
    return copy


def vgg_preprocess(image: tf.Tensor) -> tf.Tensor:
    """float [B, H, W, 3] RGB in [0, 1] -> VGG19 input: BGR, 0-255 scale, ImageNet mean removed.

    This is ``tf.keras.applications.vgg19.preprocess_input(image * 255)`` ("caffe" mode).
    Introduced in notebook 01.
    """
    return tf.keras.applications.vgg19.preprocess_input(tf.cast(image, tf.float32) * 255.0)


def vgg_deprocess(x: tf.Tensor) -> tf.Tensor:
    """The exact inverse of vgg_preprocess: BGR mean-subtracted 0-255 -> RGB in [0, 1] (unclipped).

    Introduced in notebook 01.
    """
    rgb = (x + tf.constant(VGG_MEAN_BGR, dtype=x.dtype))[..., ::-1]
    return rgb / 255.0


def vgg19_layer_names(weights: str | os.PathLike | None = "random") -> list[str]:
    """Names of VGG19's convolution and pooling layers, input to output. Introduced in notebook 02."""
    return [layer.name for layer in load_vgg19(weights).layers[1:]]


def vgg19_layer_table(height: int = 224, width: int = 224) -> list[dict]:
    """One row per VGG19 layer: name, kind, output shape [H, W, C], receptive field and stride.

    The receptive field is the side of the input square (in pixels) that one output position sees.
    Pure arithmetic on the architecture (3x3 convolutions with stride 1, 2x2 pooling with stride 2);
    no weights are needed. Introduced in notebook 02.
    """
    rows = []
    h, w, receptive, jump = height, width, 1, 1
    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    convs = {1: 2, 2: 2, 3: 4, 4: 4, 5: 4}
    for block in range(1, 6):
        for i in range(1, convs[block] + 1):
            receptive += 2 * jump
            rows.append(
                dict(
                    name=f"block{block}_conv{i}",
                    kind="conv 3x3 + ReLU",
                    shape=(h, w, channels[block]),
                    receptive_field=receptive,
                    stride=jump,
                )
            )
        receptive += jump
        jump *= 2
        h, w = h // 2, w // 2
        rows.append(
            dict(
                name=f"block{block}_pool",
                kind="max pool 2x2",
                shape=(h, w, channels[block]),
                receptive_field=receptive,
                stride=jump,
            )
        )
    return rows


@dataclass
class Features:
    """Feature maps by layer name: ``content[name]`` and ``style[name]``, each float32 [B, h, w, C]."""

    content: dict[str, tf.Tensor]
    style: dict[str, tf.Tensor]


class FeatureExtractor:
    """VGG19 cut at the chosen layers, returning their raw (post-ReLU) feature maps.

    Args:
        content_layers: Keras layer names, e.g. ("block5_conv2",).
        style_layers: Keras layer names, e.g. ("block1_conv1", ..., "block5_conv1").
        weights: as for load_vgg19.
        precision: "float32", or "mixed_float16" (float16 convolutions with float32 weights: fast
            on GPUs, slow on CPUs). Feature maps are returned as float32 either way.

    Calling it on float32 [B, H, W, 3] RGB in [0, 1] applies vgg_preprocess and returns Features.
    Only the layers up to the deepest one requested are computed. Extractors share one VGG19 (and
    one float16 copy of it) per weights choice; each may be used in its own thread. Introduced in
    notebook 02.
    """

    def __init__(
        self,
        content_layers=DEFAULT_CONTENT_LAYERS,
        style_layers=DEFAULT_STYLE_LAYERS,
        weights: str | os.PathLike | None = None,
        precision: str = "float32",
    ):
        if precision not in ("float32", "mixed_float16"):
            raise ValueError(f"precision must be 'float32' or 'mixed_float16', got {precision!r}")
        self.precision = precision
        if isinstance(content_layers, str) or isinstance(style_layers, str):
            raise LayerError("content_layers and style_layers must be sequences of layer names")
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.weights = resolve_weights(weights)
        if precision == "mixed_float16":
            vgg = _float16_vgg19(self.weights.spec)
        else:
            vgg = load_vgg19(self.weights.spec)
        valid = [layer.name for layer in vgg.layers[1:]]
        for name in self.content_layers + self.style_layers:
            if name not in valid:
                raise LayerError(
                    f"unknown VGG19 layer {name!r}; valid names are: " + ", ".join(valid)
                )
        self._names = list(dict.fromkeys(self.content_layers + self.style_layers))
        outputs = [vgg.get_layer(name).output for name in self._names]
        with _MODEL_LOCK:  # a new Keras model over the shared layers: one thread at a time
            self.model = tf.keras.Model(vgg.input, outputs)
            self.model.trainable = False

    def __call__(self, image: tf.Tensor) -> Features:
        maps = self.model(vgg_preprocess(image), training=False)
        if not isinstance(maps, (list, tuple)):
            maps = [maps]
        maps = [tf.cast(m, tf.float32) for m in maps]
        by_name = dict(zip(self._names, maps, strict=True))
        return Features(
            content={n: by_name[n] for n in self.content_layers},
            style={n: by_name[n] for n in self.style_layers},
        )
