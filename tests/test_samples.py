"""Sample images: generated ones are deterministic; online ones download quietly or fall back.

Nothing here touches the network: downloads are either faked (monkeypatched get_file) or real
Keras downloads from ``file://`` URLs into a temporary cache.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

import stylelib
from stylelib import samples
from stylelib._tf import tf

GENERATED = ["hopper", "landscape", "mosaic", "swirls", "waves"]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_samples_are_images_and_deterministic(name):
    first = stylelib.sample_image(name, max_dim=64)
    assert first.dtype == tf.float32 and first.shape[0] == 1 and first.shape[3] == 3
    assert max(first.shape[1:3]) == 64
    assert 0.0 <= float(tf.reduce_min(first)) and float(tf.reduce_max(first)) <= 1.0
    assert float(tf.math.reduce_std(first)) > 0.05, "a sample should not be a flat colour"
    np.testing.assert_array_equal(first.numpy(), stylelib.sample_image(name, max_dim=64).numpy())


def test_every_online_sample_is_listed_and_falls_back_to_a_generated_one():
    assert set(samples.ONLINE_SAMPLES) <= set(samples.SAMPLES)
    assert set(samples.SAMPLES) - set(samples.ONLINE_SAMPLES) == set(GENERATED)
    kinds = {name: kind for name, (kind, _, _) in samples.SAMPLES.items()}
    for name, spec in samples.ONLINE_SAMPLES.items():
        assert spec.fallback in GENERATED
        assert kinds[spec.fallback] == kinds[name], "a fallback plays the same part"
        assert spec.url.startswith("https://") and spec.page.startswith("https://")
        assert repr(spec.fallback) in samples.SAMPLES[name][1], "the listing names the fallback"


def test_unknown_name_raises_value_error_listing_every_name():
    with pytest.raises(ValueError, match="unknown sample 'dog'") as info:
        stylelib.sample_image("dog")
    for name in samples.SAMPLES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown sample"):
        samples.resolve_sample("dog")


def _write_photo(path):
    """A 120 x 80 test 'photograph': left third red, the rest blue."""
    pixels = np.zeros((80, 120, 3), dtype=np.uint8)
    pixels[:, :40] = (220, 30, 30)
    pixels[:, 40:] = (30, 30, 220)
    Image.fromarray(pixels).save(path)
    return path


def test_cached_or_downloaded_file_is_the_image_returned(monkeypatch, tmp_path, capsys):
    photo = _write_photo(tmp_path / "YellowLabradorLooking_new.jpg.png")
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, socket.getdefaulttimeout()))
        print("Downloading data from", origin)  # what Keras prints: must not reach the user
        return str(photo)

    monkeypatch.setattr(tf.keras.utils, "get_file", fake_get_file)
    image = stylelib.sample_image("labrador", max_dim=90)
    spec = samples.ONLINE_SAMPLES["labrador"]
    assert calls == [(spec.fname, spec.url, samples.DOWNLOAD_TIMEOUT)]
    assert socket.getdefaulttimeout() is None, "the socket timeout is restored"
    np.testing.assert_array_equal(image.numpy(), stylelib.load_image(photo, max_dim=90).numpy())
    assert image.shape == (1, 60, 90, 3)
    assert samples.resolve_sample("labrador") == "labrador"
    assert capsys.readouterr() == ("", ""), "a successful download is silent"


def test_failed_download_prints_one_line_and_returns_the_fallback(monkeypatch, capsys):
    def offline_get_file(fname, origin, **kwargs):
        print("Downloading data from", origin)
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(tf.keras.utils, "get_file", offline_get_file)
    image = stylelib.sample_image("kandinsky", max_dim=64)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1, out
    assert "'kandinsky'" in out and "'mosaic'" in out and "Name or service not known" in out
    assert "https://" not in out, "the one line does not repeat the URL"
    np.testing.assert_array_equal(
        image.numpy(), stylelib.sample_image("mosaic", max_dim=64).numpy()
    )
    assert samples.resolve_sample("labrador") == "hopper"
    assert capsys.readouterr().out.count("\n") == 1


def test_a_timeout_set_by_the_user_is_kept(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(
        tf.keras.utils,
        "get_file",
        lambda fname, origin, **kw: (
            seen.append(socket.getdefaulttimeout()) or str(_write_photo(tmp_path / "p.png"))
        ),
    )
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3.0)
    try:
        stylelib.sample_image("labrador", max_dim=90)
        assert seen == [3.0] and socket.getdefaulttimeout() == 3.0
    finally:
        socket.setdefaulttimeout(previous)


def test_real_keras_download_from_a_file_url_is_cached_and_quiet(monkeypatch, tmp_path, capfd):
    """No mock: Keras' own get_file copies a file:// URL into the cache, then reads the cache."""
    source = _write_photo(tmp_path / "source.png")
    cache = tmp_path / "cache"
    cache.mkdir()
    spec = samples.OnlineSample(
        url=source.as_uri(), fname="labrador-test.png", fallback="hopper", page="https://example"
    )
    monkeypatch.setitem(samples.ONLINE_SAMPLES, "labrador", spec)
    monkeypatch.setattr(samples, "CACHE_DIR", str(cache))
    image = stylelib.sample_image("labrador", max_dim=90)
    np.testing.assert_array_equal(image.numpy(), stylelib.load_image(source, max_dim=90).numpy())
    cached = cache / "datasets" / "labrador-test.png"
    assert cached.exists()
    source.unlink()  # the second call must use the cache, not the (now missing) source
    again = stylelib.sample_image("labrador", max_dim=90)
    np.testing.assert_array_equal(again.numpy(), image.numpy())
    assert capfd.readouterr() == ("", ""), "Keras' progress bar must not be shown"


def test_real_keras_failure_falls_back_with_one_line(monkeypatch, tmp_path, capfd):
    cache = tmp_path / "cache"
    cache.mkdir()
    spec = samples.OnlineSample(
        url=(tmp_path / "missing.jpg").as_uri(),
        fname="missing.jpg",
        fallback="hopper",
        page="https://example",
    )
    monkeypatch.setitem(samples.ONLINE_SAMPLES, "labrador", spec)
    monkeypatch.setattr(samples, "CACHE_DIR", str(cache))
    image = stylelib.sample_image("labrador", max_dim=64)
    out, err = capfd.readouterr()
    assert err == "" and out.count("\n") == 1 and "'hopper'" in out, (out, err)
    np.testing.assert_array_equal(
        image.numpy(), stylelib.sample_image("hopper", max_dim=64).numpy()
    )


def test_unreadable_cached_file_falls_back_and_says_so(monkeypatch, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    monkeypatch.setattr(tf.keras.utils, "get_file", lambda fname, origin, **kw: str(broken))
    image = stylelib.sample_image("labrador", max_dim=64)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "unreadable" in out and "'hopper'" in out, out
    assert image.shape == stylelib.sample_image("hopper", max_dim=64).shape


def test_a_bad_max_dim_is_reported_as_such_not_as_a_broken_cache(monkeypatch, tmp_path):
    photo = _write_photo(tmp_path / "p.png")
    monkeypatch.setattr(tf.keras.utils, "get_file", lambda fname, origin, **kw: str(photo))
    with pytest.raises(stylelib.ImageError, match="max_dim"):
        stylelib.sample_image("labrador", max_dim=8)
