"""The exceptions stylelib raises on purpose. Each message names what was wrong and how to fix it."""

from __future__ import annotations


class StylelibError(Exception):
    """Base class of every error stylelib raises on purpose."""


class ImageError(StylelibError, ValueError):
    """An image could not be read, converted or written. The message names the source."""


class WeightsError(StylelibError, RuntimeError):
    """VGG19 weights could not be resolved (offline, missing or wrong file). Never silently replaced."""


class LayerError(StylelibError, ValueError):
    """A VGG19 layer name that the network does not have. The message lists the valid names."""


class NonFiniteLossError(StylelibError, FloatingPointError):
    """The loss became NaN or infinite during optimisation.

    Attributes:
        step: the step (1-based) whose loss was not finite.
        image: the last image whose loss was finite, float32 [1, H, W, 3] in [0, 1].
        history: the records of the steps before the failure.
    """

    def __init__(self, message: str, *, step: int, image, history):
        super().__init__(message)
        self.step = step
        self.image = image
        self.history = history


class CheckpointError(StylelibError, ValueError):
    """A checkpoint could not be written, read or resumed. The message names the file.

    Raised when resuming from a checkpoint made with other settings, images, weights or stylelib
    version (which would silently mix two runs), and for paths that are not usable files.
    """
