"""Import TensorFlow once, without its start-up log lines.

TensorFlow's C++ runtime prints informational lines (CUDA probing, CPU features) to the process's
standard error when it is first imported. They are noise in a notebook or a terminal, so stylelib
sets ``TF_CPP_MIN_LOG_LEVEL`` (unless the user set it) and hides the file descriptor during the one
import. Errors still surface: an import failure raises a Python exception after stderr is restored.
"""

from __future__ import annotations

import os
import sys


def _import_tensorflow_quietly():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:  # no real file descriptor 2 (some embedded interpreters)
        saved = None
    try:
        import tensorflow as tf

        # Probing devices loads the CUDA runtime, which logs "failed call to cuInit" on machines
        # without a GPU; do it now, while stderr is hidden, rather than at the first model build.
        tf.config.list_physical_devices()
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
    tf.get_logger().setLevel("ERROR")
    return tf


tf = _import_tensorflow_quietly()
