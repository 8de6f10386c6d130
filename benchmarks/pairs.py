"""The content/style pairs of the speed suite (issue 12): offline, licence-clean, of different character.

Four images come from stylelib.samples (the Grace Hopper photograph, public domain; the generated
landscape, mosaic, swirls and waves). Five more are drawn here from a seed, so that every machine
makes the same pixels (this project's code, MIT):

* ``photolike``: a photo-like scene: lit spheres and a box with soft shadows on a gradient wall,
  blurred edges and sensor grain (smooth shading, no flat regions, no line art);
* ``lineart``: black ink lines on paper: outlines, curves and hatching (thin, sparse, high contrast);
* ``stripes``: fine high-frequency texture: 2-3 px stripes whose angle and colours change by patch;
* ``strokes``: large smooth brush strokes, wide and soft-edged, in a few colours;
* ``noise``: noise-like texture: coloured fractal (1/f) noise with no shapes at all.

SETTINGS_PAIRS were used to choose stylelib's settings before this suite existed (the L-BFGS
smoothing schedule and iteration counts on hopper x waves, the size where coarse to fine starts on
all three); HELD_OUT_PAIRS were not, and the README reports them. Run ``python benchmarks/pairs.py OUT_DIR`` to write every image as a PNG.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _photolike(size: int, seed: int = 11) -> Image.Image:
    w, h = size, size * 3 // 4
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wall = np.stack([0.55 + 0.25 * xx / w, 0.5 + 0.2 * yy / h, 0.45 + 0.1 * (1 - yy / h)], -1)
    floor = yy > 0.62 * h
    wall[floor] = np.array([0.42, 0.32, 0.24]) * (0.8 + 0.3 * (yy[floor, None] / h))
    image = wall
    light = np.array([-0.5, -0.6, 0.62])
    light /= np.linalg.norm(light)
    for cx, cy, r, colour in (
        (0.3, 0.58, 0.17, (0.85, 0.2, 0.15)),
        (0.62, 0.64, 0.11, (0.2, 0.45, 0.8)),
        (0.8, 0.52, 0.07, (0.9, 0.8, 0.3)),
    ):
        cx, cy, r = cx * w, cy * h, r * w
        shadow = ((xx - cx - 0.5 * r) / (1.3 * r)) ** 2 + ((yy - cy - 0.95 * r) / (0.35 * r)) ** 2
        image = image * (1 - 0.45 * np.exp(-shadow * 2))[..., None]
        dx, dy = (xx - cx) / r, (yy - cy) / r
        inside = dx**2 + dy**2 < 1
        dz = np.sqrt(np.clip(1 - dx**2 - dy**2, 0, 1))
        shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
        specular = np.clip(shade, 0, 1) ** 40
        sphere = np.array(colour) * (0.15 + 0.85 * shade[..., None]) + specular[..., None] * 0.8
        image = np.where(inside[..., None], sphere, image)
    box = (xx > 0.06 * w) & (xx < 0.2 * w) & (yy > 0.5 * h) & (yy < 0.72 * h)
    image[box] = np.array([0.3, 0.55, 0.35]) * (0.7 + 0.4 * (xx[box, None] - 0.06 * w) / (0.14 * w))
    pixels = np.clip(image, 0, 1) * 255
    blurred = Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.GaussianBlur(size / 400))
    grain = rng.normal(0, 6, (h, w, 1)) + rng.normal(0, 3, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(blurred) + grain, 0, 255).astype(np.uint8))


def _lineart(size: int, seed: int = 12) -> Image.Image:
    w, h = size, size * 3 // 4
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), (246, 242, 232))
    draw = ImageDraw.Draw(image)
    ink, width = (25, 25, 30), max(1, round(size / 256))
    s = size / 512
    # a jug, a bowl and an apple on a table, in outline
    draw.line([(0, 300 * s), (w, 290 * s)], fill=ink, width=width)
    draw.ellipse([80 * s, 120 * s, 200 * s, 300 * s], outline=ink, width=width)
    draw.rectangle([115 * s, 80 * s, 165 * s, 130 * s], outline=ink, width=width)
    draw.arc([170 * s, 140 * s, 240 * s, 230 * s], -90, 90, fill=ink, width=width)
    draw.chord([250 * s, 220 * s, 420 * s, 300 * s], 0, 180, outline=ink, width=width)
    draw.ellipse([330 * s, 150 * s, 400 * s, 222 * s], outline=ink, width=width)
    draw.line([(365 * s, 152 * s), (372 * s, 130 * s)], fill=ink, width=width)
    for k in range(14):  # hatching: the jug's shadow side and the table's shadow
        x = (150 + 6 * k) * s
        draw.line([(x, 150 * s), (x - 20 * s, 280 * s)], fill=ink, width=1)
        draw.line([(250 * s + 12 * k * s, 305 * s), (235 * s + 12 * k * s, 330 * s)], fill=ink)
    for _ in range(6):  # loose curves in the background
        points = np.cumsum(rng.normal(0, 12 * s, (30, 2)), axis=0) + rng.random(2) * [w, 60 * s]
        draw.line([tuple(p) for p in points], fill=ink, width=width, joint="curve")
    return image


def _stripes(size: int, seed: int = 13) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cell = max(8, size // 6)
    angles = rng.random((size // cell + 1, size // cell + 1)) * np.pi
    theta = angles[(yy // cell).astype(int), (xx // cell).astype(int)]
    period = 2.5 * max(1.0, size / 256)  # a few pixels at every size: always the finest detail
    wave = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period)
    palette = np.array([(20, 20, 20), (240, 60, 40), (250, 240, 220), (30, 80, 200)], np.float32)
    pick = rng.integers(0, len(palette), (angles.size, 2))
    index = ((yy // cell) * angles.shape[1] + (xx // cell)).astype(int)
    a, b = palette[pick[index, 0]], palette[pick[index, 1]]
    t = (wave > 0).astype(np.float32)[..., None]
    return Image.fromarray((a * t + b * (1 - t)).astype(np.uint8))


def _strokes(size: int, seed: int = 14) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (235, 215, 170))
    draw = ImageDraw.Draw(image)
    palette = [(200, 70, 40), (240, 170, 50), (60, 90, 150), (30, 40, 60), (250, 240, 220)]
    width = max(3, size // 12)
    for _ in range(40):
        start = rng.random(2) * size
        heading = rng.random() * 2 * np.pi
        points = [tuple(start)]
        for _ in range(6):  # a gently curving stroke
            heading += rng.normal(0, 0.3)
            start = start + size / 14 * np.array([np.cos(heading), np.sin(heading)])
            points.append(tuple(start))
        colour = palette[rng.integers(0, len(palette))]
        draw.line(points, fill=colour, width=width, joint="curve")
    return image.filter(ImageFilter.GaussianBlur(size / 160))


def _noise(size: int, seed: int = 15) -> Image.Image:
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    amplitude = 1 / np.maximum(np.hypot(fx, fy), 1 / size)  # 1/f: structure at every scale
    channels = []
    for _ in range(3):
        spectrum = amplitude * np.exp(2j * np.pi * rng.random((size, size)))
        field = np.real(np.fft.ifft2(spectrum))
        channels.append((field - field.mean()) / field.std())
    mix = np.array([[0.9, 0.3, 0.1], [0.2, 0.7, 0.4], [0.1, 0.3, 0.9]])
    pixels = np.tensordot(np.stack(channels, -1), mix, 1) * 45 + np.array([130, 110, 120])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


#: Images drawn here: name -> maker(size) returning a PIL image whose longer side is ``size``.
MAKERS = {
    "photolike": _photolike,
    "lineart": _lineart,
    "stripes": _stripes,
    "strokes": _strokes,
    "noise": _noise,
}

#: name -> (content, style, what the pair is). The settings pairs are every pair an earlier choice
#: of stylelib's settings looked at (benchmarks/run.py's race; benchmarks/defaults.py, which chose
#: AUTO_SCALES_FROM); no held-out pair was looked at before it was measured for the README.
SETTINGS_PAIRS = {
    "hopper-waves": ("hopper", "waves", "photograph x smooth colour bands"),
    "landscape-mosaic": ("landscape", "mosaic", "flat colour regions x strong colour"),
    "hopper-swirls": ("hopper", "swirls", "photograph x short curved strokes"),
}
HELD_OUT_PAIRS = {
    "photolike-stripes": ("photolike", "stripes", "photo-like shading x fine stripes"),
    "lineart-strokes": ("lineart", "strokes", "line art x large smooth strokes"),
    "hopper-noise": ("hopper", "noise", "photograph x noise-like texture"),
    "photolike-mosaic": ("photolike", "mosaic", "photo-like shading x strong colour"),
    "landscape-strokes": ("landscape", "strokes", "flat colour regions x large smooth strokes"),
    "lineart-noise": ("lineart", "noise", "line art x noise-like texture"),
}
PAIRS = {**SETTINGS_PAIRS, **HELD_OUT_PAIRS}


def image(name: str, size: int):
    """An image of the suite, its longer side ``size`` px: float32 [1, H, W, 3] in [0, 1]."""
    import stylelib

    if name in MAKERS:
        # Drawn at the size asked for, as stylelib.samples does: fine detail stays fine.
        return stylelib.as_image(np.asarray(MAKERS[name](size)), max_dim=size, name=name)
    return stylelib.sample_image(name, size)


def pair(name: str, size: int):
    """(content, style) of the pair ``name``, each float32 [1, H, W, 3] in [0, 1]."""
    content, style, _ = PAIRS[name]
    return image(content, size), image(style, size)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "pairs")
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted({n for c, s, _ in PAIRS.values() for n in (c, s)}):
        pixels = np.asarray(image(name, 256)[0]) * 255
        Image.fromarray(pixels.round().astype(np.uint8)).save(out / f"{name}.png")
    print(f"wrote {out}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
