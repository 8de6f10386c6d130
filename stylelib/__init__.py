"""stylelib: Gatys-style neural style transfer in TensorFlow, the package behind the notebook series.

Images are float32 ``tf.Tensor`` of shape [1, H, W, 3] with values in [0, 1] unless stated otherwise.
"""

from . import display, notebook, samples
from .errors import ImageError, LayerError, NonFiniteLossError, StylelibError, WeightsError
from .images import MAX_PIXELS, MIN_SIDE, load_image, save_image, to_rgb, to_uint8
from .losses import (
    content_loss,
    gram_matrix,
    gram_style_distance,
    mean_content_loss,
    mean_gram_distance,
    style_layer_loss,
    style_loss,
    total_variation_loss,
)
from .model import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    WEIGHTS_ENV,
    FeatureExtractor,
    Features,
    WeightsInfo,
    cached_imagenet_weights,
    gpu_available,
    keras_weights_dir,
    load_vgg19,
    resolve_weights,
    vgg19_layer_names,
    vgg19_layer_table,
    vgg_deprocess,
    vgg_preprocess,
    weights_in_use,
)
from .objective import LBFGS_STEPS, OPTIMIZERS, PRESETS, Preset, StyleObjective, make_preset
from .optimize import (
    DEFAULT_OPTIMIZER,
    StepRecord,
    StylizeResult,
    auto_scales,
    initial_image,
    scale_sizes,
    stylize,
)
from .samples import SAMPLES, resolve_sample, sample_image

__version__ = "0.1.0"

__all__ = [
    "display",
    "notebook",
    "samples",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_OPTIMIZER",
    "DEFAULT_STYLE_LAYERS",
    "FeatureExtractor",
    "Features",
    "ImageError",
    "LBFGS_STEPS",
    "LayerError",
    "MAX_PIXELS",
    "MIN_SIDE",
    "NonFiniteLossError",
    "OPTIMIZERS",
    "PRESETS",
    "SAMPLES",
    "Preset",
    "StepRecord",
    "StyleObjective",
    "StylelibError",
    "StylizeResult",
    "WEIGHTS_ENV",
    "WeightsError",
    "WeightsInfo",
    "auto_scales",
    "cached_imagenet_weights",
    "content_loss",
    "gpu_available",
    "gram_matrix",
    "gram_style_distance",
    "initial_image",
    "keras_weights_dir",
    "load_image",
    "load_vgg19",
    "make_preset",
    "mean_content_loss",
    "mean_gram_distance",
    "resolve_sample",
    "resolve_weights",
    "sample_image",
    "scale_sizes",
    "save_image",
    "style_layer_loss",
    "style_loss",
    "stylize",
    "to_rgb",
    "to_uint8",
    "total_variation_loss",
    "vgg19_layer_names",
    "vgg19_layer_table",
    "vgg_deprocess",
    "vgg_preprocess",
    "weights_in_use",
]
