"""What every notebook's setup cell needs: the fast-mode switch and a visible weights notice.

Introduced in notebook 00.
"""

from __future__ import annotations

import os

from .model import WeightsInfo, weights_in_use

#: Environment variable that switches notebooks to small images and few steps (set by `make test`).
FAST_ENV = "STYLELIB_FAST"


def fast_mode() -> bool:
    """True when ``STYLELIB_FAST`` is set to 1/true/yes: notebooks then use small images, few steps."""
    return os.environ.get(FAST_ENV, "").strip().lower() in ("1", "true", "yes")


def choose(normal, fast):
    """``fast`` in fast mode, else ``normal``: e.g. ``SIZE = choose(256, 64)``."""
    return fast if fast_mode() else normal


def setup_notice(weights=None) -> WeightsInfo:
    """Show which weights and which mode a notebook runs with; loud when the network is untrained.

    Displays an HTML box in Jupyter (plain text elsewhere) and returns the WeightsInfo.
    """
    info = weights_in_use(weights)
    mode = (
        f"FAST mode ({FAST_ENV}=1): small images and few steps, for tests."
        if fast_mode()
        else "Normal mode: full sizes and step counts."
    )
    lines = [str(info), mode]
    if not info.trained:
        lines.append(
            "With untrained weights, feature maps are random filters of the image: losses fall and "
            "code runs exactly as with ImageNet weights, but the pictures are NOT real style "
            "transfer results. Set STYLELIB_VGG19_WEIGHTS=imagenet (online) or a weights file path "
            "to see the real thing."
        )
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is None:
            raise ImportError
    except ImportError:
        print("\n".join(lines))
        return info
    colour = "#fde2e2" if not info.trained else "#e2f0fd"
    body = "<br>".join(lines)
    display(HTML(f'<div style="background:{colour};padding:8px;border-radius:4px">{body}</div>'))
    return info
