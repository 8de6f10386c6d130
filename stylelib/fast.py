"""Fast style transfer: a feed-forward network trained to stylise any image in one pass.

Johnson, Alahi & Fei-Fei, "Perceptual losses for real-time style transfer and super-resolution"
(ECCV 2016): instead of optimising the pixels of one image (``stylize``), train a convolutional
"transformer" network on many content images so that its output minimises the same objective,
α·L_content + β·L_style + λ_TV·TV, with the content target being each input's own VGG19 features
and the style target the Gram matrices of one style image. Once trained, stylising an image is one
forward pass. One network learns one style.

What is here:

- the network (``transformer_network``) and its two normalisation/padding layers;
- ``BatchObjective``: stylelib's objective (the same loss functions and presets as
  ``StyleObjective``) averaged over a batch of images;
- ``train`` with progress, stop/Ctrl-C, checkpoints and resume; content images from a folder, a
  list, an array, a ``tf.data.Dataset`` or a generator (``generated_content`` offline,
  ``tfds_content`` with TensorFlow Datasets);
- ``save_network`` / ``load_network`` (Keras ``.keras`` files with stylelib's metadata),
  ``apply_network`` and ``apply_to_folder``.

Images are float32 in [0, 1]: one image [1, H, W, 3], a batch [B, H, W, 3]. Introduced in
notebook 10 ("One pass").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checkpoint as _ckpt
from ._tf import tf
from .errors import CheckpointError, ImageError, NonFiniteLossError, StylelibError
from .images import MIN_SIDE, _check_max_dim, as_image, load_image, save_image, write_atomically
from .losses import (
    content_loss,
    gram_matrix,
    gram_style_distance,
    mean_content_loss,
    mean_gram_distance,
    total_variation_loss,
)
from .model import FeatureExtractor, WeightsInfo
from .objective import Preset, _check_weight, make_preset

# ---------------------------------------------------------------------------------------------
# Defaults (each says where it comes from)

#: Training defaults of Johnson et al. 2016 (section 4.1 and the supplementary material): Adam with
#: learning rate 1e-3, batches of 4 images, 256 x 256 px crops. They trained 40,000 steps (two
#: epochs of COCO); ``train`` has no default for ``steps``: say how long you can afford.
LEARNING_RATE = 1e-3
BATCH_SIZE = 4
IMAGE_SIZE = 256
#: The network of Johnson et al.: 32 channels at full resolution (64, 128 after each stride-2
#: convolution) and 5 residual blocks. Smaller values make a faster, weaker network.
WIDTH = 32
RESIDUAL_BLOCKS = 5
#: The loss weights and layers default to stylelib's "tutorial" preset (PRESETS["tutorial"]: the
#: TensorFlow tutorial's α = 1e4, β = 1e-2, λ_TV = 30 and its layers), so that a network's loss is
#: the number ``stylize`` reports for the same image. Johnson et al. used relu2_2 (block2_conv2)
#: as content layer and other weights; pass ``content_layers`` / the weights to change them.
PRESET = "tutorial"

#: File extensions read as content images from a folder (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

#: The name of stylelib's metadata inside a saved ``.keras`` file (a zip archive).
INFO_NAME = "stylelib.json"
INFO_FORMAT = "stylelib-fast-network"
#: ``meta["kind"]`` of a training checkpoint (a stylize checkpoint is refused by ``resume``).
CHECKPOINT_KIND = "fast-train"


class NetworkError(StylelibError, ValueError):
    """A network file could not be written or read, or a network argument is not a network."""


# ---------------------------------------------------------------------------------------------
# Layers

#: keras.saving.register_keras_serializable (tf.keras exposes it as utils.register_keras_serializable):
#: load_model then finds these layers by the names "stylelib>ReflectionPadding2D", ...
_register = tf.keras.utils.register_keras_serializable(package="stylelib")


@_register
class ReflectionPadding2D(tf.keras.layers.Layer):
    """Pad height and width by ``padding`` pixels on each side, mirroring the image at its border.

    Used before every convolution of the transformer network (instead of zero padding, which
    darkens the borders of the output). Input and output: float32 [B, H, W, C]; needs
    H, W > ``padding``.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@_register
class PadToMultiple(tf.keras.layers.Layer):
    """Pad height and width at the bottom and right, by reflection, up to multiples of ``multiple``.

    The network halves the resolution twice and doubles it twice, which gives back the input's
    size only when it is a multiple of 4; this layer and CropLike make any size work.
    Input: float32 [B, H, W, C] with H, W >= ``multiple``. Output: [B, H', W', C].
    """

    def __init__(self, multiple: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        shape = tf.shape(x)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        return tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@_register
class CropLike(tf.keras.layers.Layer):
    """Crop ``x`` [B, H', W', C] to the height and width of ``reference`` [B, H, W, ...] (top left).

    Called as ``CropLike()([x, reference])``; undoes PadToMultiple.
    """

    def call(self, inputs):
        x, reference = inputs
        shape = tf.shape(reference)
        return x[:, : shape[1], : shape[2], :]


@_register
class InstanceNormalization(tf.keras.layers.Layer):
    """Instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016), per image and per channel.

    For each image b and channel c of x [B, H, W, C], with μ_bc and σ²_bc the mean and variance of
    x[b, :, :, c] over the H·W positions:

        y[b, i, j, c] = γ_c · (x[b, i, j, c] − μ_bc) / sqrt(σ²_bc + ε) + β_c

    γ (``scale``, starts at 1) and β (``center``, starts at 0) are learned, one per channel. Unlike
    batch normalisation, which Johnson et al. 2016 used, the statistics never mix images and are
    the same in training and in use; Ulyanov et al. found that this alone makes the stylised
    images markedly better, since each image's contrast is normalised away.
    ``epsilon`` defaults to 1e-5 (PyTorch's InstanceNorm2d). Output: float32 [B, H, W, C].
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return self.gamma * (x - mean) * tf.math.rsqrt(variance + self.epsilon) + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


# ---------------------------------------------------------------------------------------------
# The network


def _whole(value, name: str, least: int) -> int:
    """``value`` as an int if it is a whole number >= ``least``; ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    return int(value)


def transformer_network(
    width: int = WIDTH,
    residual_blocks: int = RESIDUAL_BLOCKS,
    *,
    seed: int = 0,
    name: str = "transformer",
) -> tf.keras.Model:
    """The transformer network of Johnson et al. 2016, with instance normalisation.

    Layers (``w`` = ``width``; every convolution is preceded by reflection padding and, except the
    last, followed by InstanceNormalization and, except the second convolution of each residual
    block, a ReLU):

    - 9x9 convolution, w channels; 3x3 convolutions with stride 2, 2w then 4w channels;
    - ``residual_blocks`` residual blocks: x + IN(conv3x3(ReLU(IN(conv3x3(x))))), 4w channels;
    - twice: nearest-neighbour upsampling x2 then a 3x3 convolution (2w, then w channels). Resizing
      then convolving, rather than a transposed convolution, avoids checkerboard artefacts (Odena,
      Dumoulin & Olah, "Deconvolution and checkerboard artifacts", Distill 2016);
    - 9x9 convolution to 3 channels, then a sigmoid: the output is in [0, 1].

    Johnson et al. used batch normalisation, a scaled tanh output and unpadded convolutions in the
    residual blocks; this follows the later practice (instance norm, Ulyanov et al. 2016).

    Input and output: float32 [B, H, W, 3] in [0, 1], any H, W >= 5 (``apply_network`` asks for
    images of at least MIN_SIDE px, as everywhere in stylelib). When H or W is not a multiple of
    4, the input is padded by reflection at the bottom and right up to the next multiple
    (PadToMultiple) and the output cropped back (CropLike): the output always has the input's
    size. ``seed`` fixes the initial weights (Glorot uniform, a seed per layer).
    Introduced in notebook 10.
    """
    width = _whole(width, "width", 1)
    residual_blocks = _whole(residual_blocks, "residual_blocks", 0)
    rng = np.random.default_rng(_seed64(seed, "seed"))
    layers = tf.keras.layers

    def conv(x, filters, kernel, stride, label, norm=True):
        x = ReflectionPadding2D(kernel // 2, name=f"{label}_pad")(x)
        x = layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="valid",
            use_bias=not norm,  # a bias before instance norm is removed by it
            kernel_initializer=tf.keras.initializers.GlorotUniform(seed=int(rng.integers(2**31))),
            name=label,
        )(x)
        if norm:
            x = InstanceNormalization(name=f"{label}_norm")(x)
        return x

    inputs = tf.keras.Input(shape=(None, None, 3), name="image")
    x = PadToMultiple(4, name="pad_to_4")(inputs)
    x = layers.ReLU(name="conv1_relu")(conv(x, width, 9, 1, "conv1"))
    x = layers.ReLU(name="down1_relu")(conv(x, 2 * width, 3, 2, "down1"))
    x = layers.ReLU(name="down2_relu")(conv(x, 4 * width, 3, 2, "down2"))
    for i in range(1, residual_blocks + 1):
        y = layers.ReLU(name=f"res{i}_relu")(conv(x, 4 * width, 3, 1, f"res{i}_conv1"))
        y = conv(y, 4 * width, 3, 1, f"res{i}_conv2")
        x = layers.Add(name=f"res{i}_add")([x, y])
    for i, filters in enumerate((2 * width, width), start=1):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = layers.ReLU(name=f"up{i}_relu")(conv(x, filters, 3, 1, f"up{i}"))
    x = conv(x, 3, 9, 1, "output", norm=False)
    x = layers.Activation("sigmoid", name="output_sigmoid")(x)
    outputs = CropLike(name="crop_to_input")([x, inputs])
    model = tf.keras.Model(inputs, outputs, name=name)
    model.stylelib_info = {"width": width, "residual_blocks": residual_blocks}
    return model


# ---------------------------------------------------------------------------------------------
# The objective over a batch


class BatchObjective:
    """stylelib's objective, α·L_content + β·L_style + λ_TV·TV, averaged over a batch of images.

    The style's Gram matrices are computed once, here. Calling it on ``generated`` [B, H, W, 3]
    (the network's outputs) and ``content`` [B, H, W, 3] (its inputs), float32 in [0, 1], returns
    (total, content, style, tv), float32 scalars, each weighted: the mean over the B images of
    what ``StyleObjective(extractor, content[b], style, preset)(generated[b])`` returns. Each
    image's content target is its own input's features; each image's Gram matrices are compared
    with the style's. It uses the same loss functions as StyleObjective: the "paper" formulation's
    content_loss, gram_style_distance and total_variation_loss sum over the batch and are divided
    by B here; the "tutorial" formulation's mean_content_loss and mean_gram_distance are means
    over every element, which is already the mean of the per-image means (the images are the same
    size). Masks, several styles and colour preservation are not supported here.
    Introduced in notebook 10.
    """

    def __init__(self, extractor: FeatureExtractor, style: tf.Tensor, preset: Preset):
        self.extractor = extractor
        self.preset = preset
        features = extractor(style).style
        #: Layer name -> the style's Gram matrix, [1, C, C], location-normalised (÷ H·W).
        self.style_targets = {n: gram_matrix(f, "locations") for n, f in features.items()}
        if preset.formulation == "paper":
            self._content_term, self._style_term, self._summed = (
                content_loss,
                gram_style_distance,
                True,
            )
        else:
            self._content_term, self._style_term, self._summed = (
                mean_content_loss,
                mean_gram_distance,
                False,
            )

    def __call__(self, generated: tf.Tensor, content: tf.Tensor):
        p = self.preset
        batch = tf.shape(generated)[0]
        size = tf.cast(batch, tf.float32)
        per_image = size if self._summed else tf.constant(1.0)
        features = self.extractor(generated)
        targets = self.extractor(content).content
        content_term = tf.add_n(
            [
                w * self._content_term(features.content[n], tf.stop_gradient(targets[n]))
                for n, w in p.content_layers.items()
            ]
        )
        style_term = tf.add_n(
            [
                w
                * self._style_term(
                    gram_matrix(features.style[n], "locations"),
                    tf.repeat(self.style_targets[n], batch, axis=0),
                )
                for n, w in p.style_layers.items()
            ]
        )
        content_term = p.content_weight * content_term / per_image
        style_term = p.style_weight * style_term / per_image
        if p.tv_weight:
            tv = p.tv_weight * total_variation_loss(generated, p.tv_kind, p.tv_epsilon) / size
        else:
            tv = tf.constant(0.0)
        return content_term + style_term + tv, content_term, style_term, tv


# ---------------------------------------------------------------------------------------------
# Content images


def _seed64(seed, name: str = "seed") -> int:
    """A whole number from -2**63 to 2**63 - 1 as a non-negative 64-bit NumPy seed."""
    if not (
        isinstance(seed, numbers.Integral)
        and not isinstance(seed, bool)
        and -(2**63) <= seed < 2**63
    ):
        raise ValueError(f"{name} must be a whole number from -2**63 to 2**63 - 1, got {seed!r}")
    return int(seed) % 2**64


def _fit(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] in [0, 1] -> [size, size, 3]: shorter side scaled to ``size``, random square crop."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new = (max(size, round(height * scale)), max(size, round(width * scale)))
    if new != (height, width):
        image = tf.image.resize(image, new, method="bilinear", antialias=True).numpy()
    top = int(rng.integers(0, new[0] - size + 1))
    left = int(rng.integers(0, new[1] - size + 1))
    return np.clip(image[top : top + size, left : left + size], 0.0, 1.0).astype(np.float32)


def _image_files(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Every .jpg/.jpeg/.png file under ``folder`` (recursively), sorted; not under ``exclude``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if exclude is not None and exclude in path.resolve().parents:
            continue
        found.append(path)
    return found


class _ContentStream:
    """The training images of ``content``, one after another, as float32 [size, size, 3].

    Indexed sources (a folder, a list, an array of images) are read in a new seeded order each
    epoch, so the k-th image of the stream depends only on the seed and k: a resumed run sees the
    images the uninterrupted one would have. Other sources (a Dataset, a generator) are read in
    their own order; on resume the images already used are skipped (read and dropped).
    """

    def __init__(self, content, size: int, seed: int):
        self.size, self.seed = size, seed
        self.items: list | None = None  # indexed sources
        self.iterable = None
        self.kind, self.digest = self._classify(content)
        self.position = 0
        self._iterator = None
        self._orders: dict[int, np.ndarray] = {}

    def _classify(self, content):
        if isinstance(content, (str, os.PathLike)):
            folder = Path(content)
            if not folder.exists():
                raise ImageError(f"content '{folder}': no such folder")
            if not folder.is_dir():
                raise ImageError(
                    f"content '{folder}': is a file; give a folder of images, a list of image "
                    "paths, an array [N, H, W, 3], a tf.data.Dataset or a generator"
                )
            files = _image_files(folder)
            if not files:
                raise ImageError(
                    f"content '{folder}': no {'/'.join(IMAGE_SUFFIXES)} images in this folder or "
                    "its subfolders"
                )
            self.items = files
            names = [f.relative_to(folder).as_posix() for f in files]
            return "folder", _text_digest(names)
        if isinstance(content, tf.data.Dataset):
            self.iterable = content
            return "dataset", None
        if _is_array(content):
            array = np.asarray(content)
            if array.ndim != 4 or array.shape[-1] != 3:
                raise ImageError(
                    f"content: an array of images must be shaped [N, H, W, 3], got {array.shape}"
                )
            if array.shape[0] == 0:
                raise ImageError("content: the array holds no images (N = 0)")
            self.items = list(array)
            return "array", _ckpt.array_digest(array.astype(np.float32))
        if isinstance(content, (list, tuple)):
            if not content:
                raise ImageError("content: the list is empty; give at least one image")
            for k, item in enumerate(content):
                if isinstance(item, (str, os.PathLike)) and not Path(item).is_file():
                    raise ImageError(f"content[{k}] '{item}': no such file")
            self.items = list(content)
            names = [os.fspath(i) if isinstance(i, (str, os.PathLike)) else None for i in content]
            if all(n is not None for n in names):
                return "list", _text_digest(names)
            return "list", None
        if isinstance(content, Iterable):
            self.iterable = content
            return "iterable", None
        raise ImageError(
            f"content: expected a folder, a list of images, an array [N, H, W, 3], a "
            f"tf.data.Dataset or a generator of images, got {type(content).__name__}"
        )

    def _rng(self, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, k])

    def _load(self, item, name: str) -> np.ndarray:
        if isinstance(item, dict):  # TensorFlow Datasets elements: {"image": ..., "label": ...}
            if "image" not in item:
                raise ImageError(f"{name}: a dict element needs an 'image' key, got {list(item)}")
            item = item["image"]
        elif isinstance(item, tuple):  # (image, label) pairs
            item = item[0]
        if isinstance(item, (tf.Tensor, tf.Variable)):
            item = item.numpy()
        array = np.asarray(item) if _is_array(item) else None
        if array is not None and array.ndim == 3 and array.shape[-1] == 3:
            item = tf.constant(
                array
            )  # as_image keeps a tensor's float pixels (no uint8 round trip)
        return np.asarray(as_image(item, max_dim=None, name=name))[0]

    def __next__(self) -> np.ndarray:
        k = self.position
        if self.items is not None:
            count = len(self.items)
            epoch, index = divmod(k, count)
            if epoch not in self._orders:
                self._orders = {
                    epoch: np.random.default_rng([self.seed, epoch, 1]).permutation(count)
                }
            i = int(self._orders[epoch][index])
            item = self.items[i]
            # a folder's file: "content: '<path>': ..."; a list's item: "content[3]: ..."
            image = self._load(item, "content" if isinstance(item, Path) else f"content[{i}]")
        else:
            if self._iterator is None:
                self._iterator = self._start(k)
            try:
                item = next(self._iterator)
            except StopIteration:
                raise _Exhausted(k) from None
            image = self._load(item, f"content image {k} of the {self.kind}")
        self.position = k + 1
        return _fit(image, self.size, self._rng(k))

    def _start(self, skip: int):
        if self.kind == "dataset":
            return iter(self.iterable.repeat().skip(skip))
        iterator = iter(self.iterable)
        for k in range(skip):  # resume: drop the images the earlier run used
            try:
                next(iterator)
            except StopIteration:
                raise _Exhausted(k) from None
        return iterator

    def batch(self, size: int) -> np.ndarray:
        return np.stack([next(self) for _ in range(size)])


class _Exhausted(Exception):
    """A generator ran out of images after ``count`` of them."""

    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, tf.Tensor, tf.Variable))


def _text_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def generated_content(image_size: int = IMAGE_SIZE, *, seed: int = 0):
    """Endless training images made offline: float32 [image_size, image_size, 3] in [0, 1].

    Random crops (random size, flips and colour gains) of the offline samples "hopper" (a
    photograph) and "landscape" (a drawing), each with a few random coloured shapes on top. They
    let ``train`` run anywhere (CI, fast mode) and show the mechanics; a network trained on them
    has learned nothing useful for photographs. Train on a folder of real photographs (e.g. COCO)
    or ``tfds_content`` for that. Introduced in notebook 10.
    """
    from PIL import Image, ImageDraw

    from .samples import sample_image

    size = _whole(image_size, "image_size", MIN_SIDE)
    rng = np.random.default_rng(_seed64(seed))
    bases = [
        (np.asarray(sample_image(name, max_dim=2 * size))[0] * 255).astype(np.uint8)
        for name in ("hopper", "landscape")
    ]
    while True:
        base = bases[int(rng.integers(len(bases)))]
        height, width = base.shape[:2]
        side = int(rng.integers(min(height, width) // 3, min(height, width) + 1))
        top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
        patch = Image.fromarray(base[top : top + side, left : left + side]).resize(
            (size, size), Image.Resampling.BILINEAR
        )
        draw = ImageDraw.Draw(patch)
        for _ in range(int(rng.integers(0, 4))):
            x0, y0 = (int(v) for v in rng.integers(0, size, 2))
            x1, y1 = (int(v) for v in rng.integers(4, size // 2, 2) + (x0, y0))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x1, y1], fill=colour)
        pixels = np.asarray(patch, dtype=np.float32) / 255.0
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        yield np.clip(pixels * rng.uniform(0.8, 1.2, 3), 0.0, 1.0).astype(np.float32)


def tfds_content(name: str = "tf_flowers", *, split: str = "train", data_dir=None):
    """A TensorFlow Datasets image set as a shuffled ``tf.data.Dataset`` of [H, W, 3] uint8.

    Needs the ``tensorflow_datasets`` package and, the first time, the internet (the set is
    downloaded into ``data_dir``, default ``~/tensorflow_datasets``). "tf_flowers" (3,670
    photographs, about 220 MB) is small enough for Colab; "coco/2017" (Johnson et al.
    trained on COCO) is tens of GB. Raises StylelibError naming what is missing (the package, the
    set, the network) instead of a TensorFlow Datasets traceback. Introduced in notebook 10.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise StylelibError(
            "tfds_content: the package tensorflow_datasets is not installed "
            "(pip install tensorflow-datasets); offline, train on a folder of images or on "
            "stylelib.fast.generated_content()"
        ) from None
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=True)
    except Exception as exc:  # tfds raises many types: unknown name, download failures, ...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StylelibError(
            f"tfds_content: the TensorFlow Datasets set {name!r} (split {split!r}) could not be "
            f"loaded ({type(exc).__name__}: {reason}). It needs the internet the first time."
        ) from None
    return dataset.map(lambda element: element["image"]).shuffle(1000, seed=0)


# ---------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class TrainRecord:
    """The losses of the batch of training step ``step`` (1-based), with the weights before that
    step's update, measured ``seconds`` after training began (summed over resumed runs)."""

    step: int
    seconds: float
    total: float
    content: float
    style: float
    tv: float


_RECORD_FIELDS = [f.name for f in dataclasses.fields(TrainRecord)]


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        network: the trained Keras model (after the last completed step).
        history: a TrainRecord per step, from the first (of the first run, when resumed).
        settings: the settings of the run (the checkpoint's fingerprint, less the digests).
        weights: which VGG19 weights computed the loss (check ``weights.trained``).
        seconds: training time, summed over resumed runs.
        extra: "stopped" (None, "stop", "interrupted" or "exhausted": a generator ran out),
            "step" (steps done) and "checkpoint" (the file written, if any).
    """

    network: tf.keras.Model
    history: list[TrainRecord]
    settings: dict
    weights: WeightsInfo
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        """The total loss of the last step's batch (nan before any step)."""
        return self.history[-1].total if self.history else math.nan


class _Flag:
    """What optimize._interrupt_to_flag sets on Ctrl-C."""

    interrupted = False


def _check_stop(stop, flag: _Flag) -> str | None:
    if flag.interrupted:
        return "interrupted"
    if stop is not None and (stop.is_set() if hasattr(stop, "is_set") else stop()):
        return "stop"
    return None


def train(
    style,
    content,
    *,
    steps: int,
    batch_size: int = BATCH_SIZE,
    image_size: int = IMAGE_SIZE,
    style_size: int | None = None,
    weights=None,
    preset: str | Preset = PRESET,
    content_layers=None,
    style_layers=None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    tv_kind: str | None = None,
    learning_rate: float = LEARNING_RATE,
    width: int = WIDTH,
    residual_blocks: int = RESIDUAL_BLOCKS,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: str | os.PathLike | None = None,
    stop=None,
    callback: Callable[[int, tf.keras.Model, TrainRecord], None] | None = None,
    callback_every: int = 50,
    progress: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train a transformer network to paint images in the style of ``style`` (Johnson et al. 2016).

    Each step takes ``batch_size`` content images, runs the network on them and moves its weights
    (Adam) down the gradient of BatchObjective: stylelib's objective with each image's own features
    as content target and the style's Gram matrices (computed once) as style target.

    Args:
        style: the style image, anything as_image reads; loaded with longer side ``style_size``
            (default ``image_size``: the style's motifs then have the size they have in stylize at
            that size). Its shorter side must still be at least MIN_SIDE px: with a small
            ``image_size`` and a wide style image, give a larger ``style_size``.
        content: the training images: a folder (every .jpg/.jpeg/.png in it and its subfolders), a
            list of image paths or arrays, an array [N, H, W, 3], a ``tf.data.Dataset`` of
            [H, W, 3] images (or of dicts with an "image", as TensorFlow Datasets gives; repeated
            endlessly, not shuffled here), or a generator of [H, W, 3] images
            (``generated_content()`` offline; when it runs out, training ends early). Each
            image (uint8 or float in [0, 1]) is scaled so that its shorter side is
            ``image_size`` and cropped to a random ``image_size`` square.
        steps: the number of training steps in all (a resumed run continues up to it).
        batch_size, image_size, learning_rate: Johnson et al.'s 4, 256 px and 1e-3 by default.
        weights: VGG19 weights, as for load_vgg19 ("imagenet", a path, or "random": untrained,
            for tests; the network then learns nothing meaningful). Never replaced silently.
        preset, content_layers, style_layers, content_weight, style_weight, tv_weight, tv_kind:
            the objective, as for stylize (default: the "tutorial" preset's α = 1e4, β = 1e-2,
            λ_TV = 30, content block5_conv2, style block1..5_conv1).
        width, residual_blocks: the network's size (see transformer_network).
        seed: the network's initial weights and the order and crops of the content images.
        checkpoint: a file to save the training state in (network weights, Adam's state, the
            step, the history and a fingerprint of the settings, the style image and the VGG19
            weights), atomically: every ``checkpoint_every`` steps, when stopped, and at the end.
        resume: a checkpoint to continue from, with the same arguments (``steps`` may be larger,
            to train longer); CheckpointError lists what differs otherwise. Defaults
            ``checkpoint`` to the same file.
        stop: a threading.Event or a callable returning True, checked after every step.
        callback: ``callback(step, network, record)`` every ``callback_every`` steps.
        progress: a tqdm progress bar. quiet: print nothing when ending early.

    Ending early: ``stop`` or Ctrl-C (the first; a second one raises KeyboardInterrupt) ends
    training after the step under way; the result holds the network as it is after the last
    completed step, with ``extra["stopped"]`` saying why. A non-finite loss raises
    NonFiniteLossError before that step's update; its ``network`` attribute holds the network
    with the weights of the last finite step (``image`` is None).

    Raises ValueError / ImageError / CheckpointError / WeightsError naming the argument, before
    any training. Introduced in notebook 10.
    """
    from . import __version__
    from .optimize import _check_checkpointing, _interrupt_to_flag

    steps = _whole(steps, "steps", 0)
    batch_size = _whole(batch_size, "batch_size", 1)
    image_size = _whole(image_size, "image_size", MIN_SIDE)
    if style_size is not None:
        _check_max_dim(style_size, "style_size")
    learning_rate = _check_weight("learning_rate", learning_rate, positive=True)
    width = _whole(width, "width", 1)
    residual_blocks = _whole(residual_blocks, "residual_blocks", 0)
    seed64 = _seed64(seed)
    callback_every = _whole(callback_every, "callback_every", 1)
    if stop is not None and not (callable(stop) or hasattr(stop, "is_set")):
        raise ValueError(f"stop must be a threading.Event or a callable, got {stop!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable, got {callback!r}")
    settings = make_preset(
        preset,
        content_layers=content_layers,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        tv_kind=tv_kind,
    )
    checkpoint, checkpoint_every, saved = _check_checkpointing(checkpoint, checkpoint_every, resume)
    if saved is not None and saved[0].get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(
            f"resume '{resume}': not a training checkpoint of stylelib.fast.train (a stylize "
            "checkpoint?)"
        )
    style_image = as_image(style, max_dim=style_size or image_size, name="style")
    stream = _ContentStream(content, image_size, seed64)
    extractor = FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights=weights
    )
    fingerprint = {
        "stylelib_version": __version__,
        "preset": settings.name,
        "content_layers": dict(settings.content_layers),
        "style_layers": dict(settings.style_layers),
        "content_weight": settings.content_weight,
        "style_weight": settings.style_weight,
        "tv_weight": settings.tv_weight,
        "tv_kind": settings.tv_kind,
        "tv_epsilon": settings.tv_epsilon,
        "formulation": settings.formulation,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "image_size": image_size,
        "style_shape": list(style_image.shape[1:3]),
        "width": width,
        "residual_blocks": residual_blocks,
        "seed": int(seed),
        "content_kind": stream.kind,
        "content_digest": stream.digest,
        "style_digest": _ckpt.array_digest(style_image),
        "vgg_weights": extractor.weights.spec,
        "vgg_weights_digest": _ckpt.weights_digest(extractor.model),
    }
    if saved is not None:
        _ckpt.check_compatible(saved[0]["fingerprint"], fingerprint, resume)
        if steps < saved[0]["step"]:
            raise ValueError(
                f"steps must be at least the {saved[0]['step']} steps the checkpoint '{resume}' "
                f"has done, got {steps}"
            )
    objective = BatchObjective(extractor, style_image, settings)
    network = transformer_network(width, residual_blocks, seed=seed)
    optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
    optimizer.build(network.trainable_variables)
    history: list[TrainRecord] = []
    start_step, seconds_before = 0, 0.0
    if saved is not None:
        meta, arrays = saved
        _assign(network.weights, [arrays[f"net_{k}"] for k in range(meta["net_values"])], resume)
        _assign(
            optimizer.variables, [arrays[f"opt_{k}"] for k in range(meta["opt_values"])], resume
        )
        history = [TrainRecord(int(r[0]), *map(float, r[1:])) for r in arrays["history"]]
        start_step, seconds_before = meta["step"], meta["seconds"]
    stream.position = start_step * batch_size

    @tf.function(reduce_retracing=True, autograph=False)
    def gradients(batch):
        with tf.GradientTape() as tape:
            losses = objective(network(batch, training=True), batch)
        grads = tape.gradient(losses[0], network.trainable_variables)
        ok = tf.math.is_finite(losses[0])
        for g in grads:
            ok = ok & tf.reduce_all(tf.math.is_finite(g))
        return losses, grads, ok

    @tf.function(reduce_retracing=True, autograph=False)
    def apply(grads):
        optimizer.apply_gradients(zip(grads, network.trainable_variables, strict=True))

    info = {
        "format": INFO_FORMAT,
        "settings": {k: v for k, v in fingerprint.items() if not k.endswith("digest")},
        "style_digest": fingerprint["style_digest"],
        "vgg_weights": extractor.weights.spec,
        "vgg_weights_trained": extractor.weights.trained,
        "vgg_weights_digest": fingerprint["vgg_weights_digest"],
        "steps": start_step,
    }
    style_name = _source_name(style)
    if style_name is not None:
        info["style"] = style_name

    def write_checkpoint(step: int, seconds: float) -> None:
        if checkpoint is None:
            return
        meta = {
            "kind": CHECKPOINT_KIND,
            "fingerprint": fingerprint,
            "step": step,
            "seconds": seconds,
            "net_values": len(network.weights),
            "opt_values": len(optimizer.variables),
            "tensorflow_version": tf.__version__,
        }
        rows = [[getattr(r, f) for f in _RECORD_FIELDS] for r in history]
        arrays = {"history": np.array(rows, dtype=np.float64).reshape(-1, len(_RECORD_FIELDS))}
        arrays.update({f"net_{k}": v.numpy() for k, v in enumerate(network.weights)})
        arrays.update({f"opt_{k}": v.numpy() for k, v in enumerate(optimizer.variables)})
        _ckpt.save(checkpoint, meta, arrays)

    bar = _progress(steps, start_step, progress)
    flag = _Flag()
    began = time.perf_counter()
    step, stopped = start_step, None

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - began

    with _interrupt_to_flag(flag):
        try:
            while step < steps:
                try:
                    batch = tf.constant(stream.batch(batch_size))
                except _Exhausted as exc:
                    stopped = "exhausted"
                    if not quiet:
                        print(
                            f"train: the content {stream.kind} ran out after {exc.count} images "
                            f"({step} steps of {steps})",
                            file=sys.stderr,
                        )
                    break
                except ImageError as exc:
                    write_checkpoint(step, elapsed())
                    saved_note = f"; the checkpoint holds step {step}" if checkpoint else ""
                    raise ImageError(f"{exc} (at training step {step + 1}){saved_note}") from None
                losses, grads, ok = gradients(batch)
                record = TrainRecord(step + 1, elapsed(), *(float(v) for v in losses))
                if not bool(ok):
                    bar.close()
                    network.stylelib_info = dict(info)
                    error = NonFiniteLossError(
                        f"the loss or its gradient became non-finite at training step {step + 1} "
                        f"(total {record.total}, content {record.content}, style "
                        f"{record.style}, tv {record.tv}); error.network holds the weights after "
                        f"step {step}. Lower learning_rate or the loss weights.",
                        step=step + 1,
                        image=None,
                        history=history,
                    )
                    error.network = network
                    raise error
                apply(grads)
                step += 1
                history.append(record)
                info["steps"] = step
                bar.update(1)
                bar.set_postfix(loss=f"{record.total:.4g}", refresh=False)
                if callback is not None and (step % callback_every == 0 or step == steps):
                    callback(step, network, record)
                if checkpoint_every and step % checkpoint_every == 0:
                    write_checkpoint(step, elapsed())
                stopped = _check_stop(stop, flag)
                if stopped is not None:
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: the weights are those of the last step
            stopped = "interrupted"
    bar.close()
    seconds = elapsed()
    write_checkpoint(step, seconds)
    if stopped is not None:
        info["stopped_at"] = step
    network.stylelib_info = dict(info)
    if stopped is not None:
        if not quiet and stopped != "exhausted":
            where = f"; state saved to {checkpoint}" if checkpoint else ""
            print(
                f"train: {'interrupted' if stopped == 'interrupted' else 'stopped'} after {step} "
                f"of {steps} steps; returning the network after step {step}{where}",
                file=sys.stderr,
            )
    return TrainResult(
        network=network,
        history=history,
        settings=dict(info["settings"]),
        weights=extractor.weights,
        seconds=seconds,
        extra={
            "stopped": stopped,
            "step": step,
            "checkpoint": os.fspath(checkpoint) if checkpoint else None,
        },
    )


def _assign(variables, values, resume) -> None:
    """Assign a checkpoint's arrays to freshly built variables, checking that they fit."""
    if len(variables) != len(values) or any(
        tuple(v.shape) != tuple(x.shape) for v, x in zip(variables, values, strict=False)
    ):
        raise CheckpointError(
            f"resume '{resume}': the checkpoint's arrays do not fit this network and optimiser "
            f"({len(values)} saved, {len(variables)} here)"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _source_name(source) -> str | None:
    """A path's text, for the metadata (None for arrays and tensors)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return None


def _progress(total: int, initial: int, enabled: bool):
    """A tqdm bar named "train", or one that shows nothing (optimize._NoBar)."""
    from .optimize import _NoBar

    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step")


# ---------------------------------------------------------------------------------------------
# Saving, loading, applying


def network_info(network: tf.keras.Model) -> dict:
    """stylelib's metadata of a network: what trained it (settings, style digest, VGG19 weights
    and whether they were trained, steps). {} for a network from elsewhere."""
    _check_network(network)
    return json.loads(json.dumps(dict(getattr(network, "stylelib_info", {}) or {}), default=list))


def _check_network(network) -> None:
    if not isinstance(network, tf.keras.Model):
        raise NetworkError(
            f"network must be a Keras model (from transformer_network, train or load_network), "
            f"got {type(network).__name__}"
        )


def save_network(
    network: tf.keras.Model, path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write ``network`` to ``path`` in Keras format (``.keras``), with stylelib's metadata.

    The metadata (network_info: settings, style digest, VGG19 weights identity, whether they were
    trained) is stored as ``stylelib.json`` inside the file and comes back with load_network.
    The file is written atomically (to a temporary file beside it, then renamed); an existing file
    is refused unless ``overwrite``. Raises NetworkError naming the path. Introduced in notebook 10.
    """
    _check_network(network)
    target = Path(path)
    if target.suffix != ".keras":
        raise NetworkError(f"path '{target}': a network file must end in .keras")
    if target.is_dir():
        raise NetworkError(f"path '{target}': is a folder")
    if target.exists() and not overwrite:
        raise NetworkError(f"path '{target}': already exists; pass overwrite=True to replace it")
    info = {**network_info(network), "stylelib_format": INFO_FORMAT}
    real = Path(os.path.realpath(target))
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NetworkError(f"path '{target}': cannot create its folder ({exc.strerror})") from None
    with tempfile.TemporaryDirectory() as scratch:
        written = Path(scratch) / "network.keras"
        network.save(written)
        with zipfile.ZipFile(written, "a") as archive:
            archive.writestr(INFO_NAME, json.dumps(info, sort_keys=True, default=list))
        data = written.read_bytes()

    def failed(stage: str, exc: OSError) -> NetworkError:
        return NetworkError(f"path '{target}': cannot write ({exc.strerror or exc})")

    write_atomically(real, lambda stream: stream.write(data), failed)
    return target


def load_network(path: str | os.PathLike) -> tf.keras.Model:
    """A network written by save_network, with its metadata (network_info, ``.stylelib_info``).

    Raises NetworkError naming the file when it is missing, not a Keras file, or unreadable.
    Introduced in notebook 10.
    """
    target = Path(path)
    if not target.exists():
        raise NetworkError(f"network '{target}': no such file")
    if not target.is_file():
        raise NetworkError(f"network '{target}': is not a file")
    try:
        with zipfile.ZipFile(target) as archive:
            names = archive.namelist()
            info = json.loads(archive.read(INFO_NAME)) if INFO_NAME in names else {}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise NetworkError(
            f"network '{target}': not a Keras .keras file ({type(exc).__name__}: {exc})"
        ) from None
    try:
        network = tf.keras.models.load_model(target, compile=False)
    except Exception as exc:  # Keras raises many types for damaged files
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise NetworkError(
            f"network '{target}': could not be loaded ({type(exc).__name__}: {reason})"
        ) from None
    info.pop("stylelib_format", None)
    network.stylelib_info = info
    return network


def apply_network(network, image, *, max_dim: int | None = None) -> tf.Tensor:
    """Stylise one image with a trained network: float32 [1, H, W, 3] in [0, 1].

    Args:
        network: a Keras model (train, load_network) or the path of a ``.keras`` file.
        image: anything as_image reads (a path, an array, a tensor [1, H, W, 3]), at least
            MIN_SIDE px on its shorter side; files and arrays are resized to longer side
            ``max_dim`` (default None: their own size). The output has the image's size.
    Introduced in notebook 10.
    """
    if isinstance(network, (str, os.PathLike)):
        network = load_network(network)
    _check_network(network)
    pixels = as_image(image, max_dim=max_dim, name="image")
    return tf.clip_by_value(network(pixels, training=False), 0.0, 1.0)


def apply_to_folder(
    network,
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    max_dim: int | None = None,
    progress: bool = False,
) -> list[Path]:
    """Stylise every .jpg/.jpeg/.png image under ``in_dir`` into ``out_dir``; the written paths.

    Each output has the input's path relative to ``in_dir`` and its format. Nothing is written
    unless every output can be: it refuses (NetworkError naming the argument) when ``out_dir`` is
    ``in_dir``, when an output would be an input, or, unless ``overwrite``, when an output exists.
    Images under ``out_dir`` are not read when it lies inside ``in_dir``. Introduced in notebook 10.
    """
    if isinstance(network, (str, os.PathLike)):
        network = load_network(network)
    _check_network(network)
    source, target = Path(in_dir), Path(out_dir)
    if not source.is_dir():
        raise NetworkError(f"in_dir '{source}': no such folder")
    if target.exists() and not target.is_dir():
        raise NetworkError(f"out_dir '{target}': is a file, not a folder")
    if target.resolve() == source.resolve():
        raise NetworkError(f"out_dir '{target}': is in_dir; the outputs would replace the inputs")
    files = _image_files(source, exclude=target.resolve())
    if not files:
        raise NetworkError(f"in_dir '{source}': no {'/'.join(IMAGE_SUFFIXES)} images")
    inputs = {f.resolve() for f in files}
    outputs = [target / f.relative_to(source) for f in files]
    for out in outputs:
        if out.resolve() in inputs:
            raise NetworkError(f"out_dir: the output '{out}' would replace an input image")
    existing = [str(o) for o in outputs if o.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise NetworkError(
            f"out_dir '{target}': {len(existing)} output(s) exist already ({shown}); pass "
            "overwrite=True to replace them"
        )
    bar = _progress(len(files), 0, progress)
    written = []
    for file, out in zip(files, outputs, strict=True):
        save_image(apply_network(network, load_image(file, max_dim=max_dim)), out)
        written.append(out)
        bar.update(1)
    bar.close()
    return written


__all__ = [
    "BATCH_SIZE",
    "IMAGE_SIZE",
    "LEARNING_RATE",
    "RESIDUAL_BLOCKS",
    "WIDTH",
    "BatchObjective",
    "CropLike",
    "InstanceNormalization",
    "NetworkError",
    "PadToMultiple",
    "ReflectionPadding2D",
    "TrainRecord",
    "TrainResult",
    "apply_network",
    "apply_to_folder",
    "generated_content",
    "load_network",
    "network_info",
    "save_network",
    "tfds_content",
    "train",
    "transformer_network",
]
