"""stylelib.fast: the feed-forward network, its training, saving and applying, and its commands.

Untrained ("random") VGG19 weights, images of 32-48 px and a narrow network (width 4, one
residual block), so that the whole file stays quick on a CPU.
"""

from __future__ import annotations

import os
import signal
import threading
import zipfile

import numpy as np
import pytest

import stylelib
from stylelib import fast, fast_cli
from stylelib._tf import tf
from stylelib.errors import CheckpointError, ImageError, StylelibError

from .conftest import smooth_image

SMALL = {"width": 4, "residual_blocks": 1}
#: Layers of the quick runs: VGG19 up to block2 only (the default layers reach block5).
LAYERS = {"content_layers": ["block2_conv2"], "style_layers": ["block1_conv1", "block2_conv1"]}
#: Settings of the quick training runs: 32 px crops, batches of 2, a narrow network.
QUICK = {"batch_size": 2, "image_size": 32, "weights": "random", "learning_rate": 0.01}
QUICK.update(**SMALL, **LAYERS)


@pytest.fixture(scope="module")
def style():
    return smooth_image(40, 40, seed=2)


@pytest.fixture(scope="module")
def images():
    """Four content images [4, 32, 32, 3]: a crop of 32 px from them is the image itself."""
    return np.stack([smooth_image(32, 32, seed=s) for s in (10, 11, 12, 13)])


@pytest.fixture(scope="module")
def network():
    return fast.transformer_network(seed=3, **SMALL)


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


# --- the network ----------------------------------------------------------------------------


@pytest.mark.parametrize("height,width", [(32, 32), (33, 47), (45, 38), (64, 50)])
def test_output_has_the_input_size_and_range(network, height, width):
    x = tf.random.uniform([2, height, width, 3], seed=1)
    y = network(x)
    assert y.shape == (2, height, width, 3)
    assert float(tf.reduce_min(y)) >= 0.0 and float(tf.reduce_max(y)) <= 1.0


def test_sizes_not_multiples_of_4_are_padded_by_reflection_then_cropped(network):
    x = tf.random.uniform([1, 33, 46, 3], seed=2)
    padded = fast.PadToMultiple(4)(x)
    assert padded.shape == (1, 36, 48, 3)
    np.testing.assert_array_equal(padded[:, 33, :46], x[:, 31])  # mirrored at the bottom edge
    np.testing.assert_array_equal(padded[:, :33, :46], x)
    # the output's top-left 33 x 46 is the network's output on the padded image
    full = network(padded)
    np.testing.assert_allclose(network(x), full[:, :33, :46], atol=1e-5)


def test_the_default_network_is_johnsons_size():
    net = fast.transformer_network()
    names = [layer.name for layer in net.layers]
    assert sum(n.startswith("res") and n.endswith("_add") for n in names) == 5
    assert net.get_layer("conv1").kernel.shape == (9, 9, 3, 32)
    assert net.get_layer("down2").kernel.shape == (3, 3, 64, 128)
    assert net.get_layer("output").kernel.shape == (9, 9, 32, 3)
    assert not any(isinstance(layer, tf.keras.layers.Conv2DTranspose) for layer in net.layers)
    assert net.count_params() == 1_677_635  # these layers at width 32, 5 blocks


def test_instance_norm_normalises_each_image_and_channel_alone():
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.1, 10, size=(3, 1, 1, 5))
    offsets = rng.uniform(-5, 5, size=(3, 1, 1, 5))
    x = tf.constant((rng.normal(size=(3, 8, 10, 5)) * scales + offsets).astype(np.float32))
    layer = fast.InstanceNormalization()
    y = layer(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-3)
    # the statistics never mix images (unlike batch normalisation)
    np.testing.assert_allclose(layer(x[1:2]).numpy(), y[1:2], atol=1e-5)


def test_layers_round_trip_through_their_config():
    for layer in (
        fast.ReflectionPadding2D(3),
        fast.PadToMultiple(8),
        fast.InstanceNormalization(1e-3),
    ):
        copy = type(layer).from_config(layer.get_config())
        assert copy.get_config() == layer.get_config()
    assert tf.keras.utils.get_registered_name(fast.InstanceNormalization) == (
        "stylelib>InstanceNormalization"
    )


# --- the objective over a batch -------------------------------------------------------------


@pytest.mark.parametrize("preset", ["tutorial", "gatys"])
def test_batch_objective_is_the_mean_of_stylelibs_objective(preset, style, images):
    settings = stylelib.make_preset(preset, tv_weight=5.0)
    extractor = stylelib.FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights="random"
    )
    style_image = tf.constant(style[None])
    batch = fast.BatchObjective(extractor, style_image, settings)
    generated = tf.constant(np.stack([smooth_image(32, 32, seed=s) for s in (20, 21)]))
    content = tf.constant(images[:2])
    singles = [
        np.array(
            stylelib.StyleObjective(extractor, content[b : b + 1], style_image, settings)(
                generated[b : b + 1]
            )
        )
        for b in range(2)
    ]
    one = np.array(batch(generated[:1], content[:1]))
    np.testing.assert_allclose(one, singles[0], rtol=1e-5)
    assert np.all(singles[0][1:] > 0)  # every term is measured
    two = np.array(batch(generated, content))
    np.testing.assert_allclose(two, (singles[0] + singles[1]) / 2, rtol=1e-5)


# --- training -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(style, images):
    """Twelve steps on one fixed batch of two images (a 32 px crop of a 32 px image is itself)."""
    return fast.train(style, images[:2], steps=12, seed=1, **QUICK)


def test_training_steps_lower_the_loss_on_a_fixed_batch(trained, style, images):
    result = trained
    assert [r.step for r in result.history] == list(range(1, 13))
    settings = stylelib.make_preset("tutorial", **LAYERS)
    extractor = stylelib.FeatureExtractor(
        list(settings.content_layers), list(settings.style_layers), weights="random"
    )
    objective = fast.BatchObjective(extractor, stylelib.as_image(style, max_dim=32), settings)
    batch = tf.constant(images[:2])
    start = fast.transformer_network(seed=1, **SMALL)
    before = float(objective(start(batch), batch)[0])
    after = float(objective(result.network(batch), batch)[0])
    # the first record is the loss of the untouched network on this very batch
    np.testing.assert_allclose(result.history[0].total, before, rtol=1e-4)
    assert after < 0.8 * before, (before, after)
    assert result.weights.trained is False
    assert result.extra["stopped"] is None


def test_stop_after_k_steps_returns_the_weights_of_step_k(style, images):
    seen = []
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 3

    result = fast.train(
        style,
        images,
        steps=10,
        callback=lambda step, net, record: seen.append((step, weights_of(net))),
        callback_every=1,
        stop=stop,
        quiet=True,
        **QUICK,
    )
    assert result.extra["stopped"] == "stop" and result.extra["step"] == 3
    assert len(result.history) == 3 and seen[-1][0] == 3
    for kept, now in zip(seen[-1][1], weights_of(result.network), strict=True):
        np.testing.assert_array_equal(kept, now)
    assert any(not np.array_equal(a, b) for a, b in zip(seen[0][1], seen[-1][1], strict=True))


def test_a_non_finite_loss_is_refused_before_the_update(style, images, monkeypatch):
    objective = fast.BatchObjective.__call__

    def poisoned(self, generated, content):
        total, *terms = objective(self, generated, content)
        return (total * np.nan, *terms)

    monkeypatch.setattr(fast.BatchObjective, "__call__", poisoned)
    with pytest.raises(stylelib.NonFiniteLossError, match="non-finite at training step 1") as err:
        fast.train(style, images, steps=3, seed=2, **QUICK)
    untouched = fast.transformer_network(seed=2, **SMALL)
    for a, b in zip(weights_of(err.value.network), weights_of(untouched), strict=True):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_stops_after_the_step_under_way(style, images, capsys):
    before = signal.getsignal(signal.SIGINT)  # Python's own, or pytest-xdist's worker's

    def interrupt(step, net, record):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    result = fast.train(style, images, steps=6, callback=interrupt, callback_every=1, **QUICK)
    assert result.extra["stopped"] == "interrupted" and result.extra["step"] == 2
    assert "interrupted after 2 of 6 steps" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_resume_continues_exactly_and_refuses_other_settings(style, images, tmp_path):
    whole = fast.train(style, images, steps=4, seed=5, **QUICK)
    ckpt = tmp_path / "train.npz"
    event = threading.Event()
    first = fast.train(
        style,
        images,
        steps=4,
        seed=5,
        checkpoint=ckpt,
        stop=event,
        callback=lambda step, net, record: step == 2 and event.set(),
        callback_every=1,
        quiet=True,
        **QUICK,
    )
    assert first.extra["step"] == 2 and ckpt.exists()
    resumed = fast.train(style, images, steps=4, seed=5, resume=ckpt, **QUICK)
    assert [r.step for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(weights_of(whole.network), weights_of(resumed.network), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        [r.total for r in resumed.history], [r.total for r in whole.history], rtol=1e-5
    )
    with pytest.raises(CheckpointError, match="style_weight"):
        fast.train(style, images, steps=4, seed=5, resume=ckpt, style_weight=1.0, **QUICK)
    with pytest.raises(CheckpointError, match="style differs"):
        fast.train(style[::-1], images, steps=4, seed=5, resume=ckpt, **QUICK)
    with pytest.raises(ValueError, match="steps must be at least the 4 steps"):
        fast.train(style, images, steps=3, seed=5, resume=ckpt, **QUICK)


def test_rerun_with_checkpoint_and_resume_of_one_file_keeps_what_was_trained(
    style, images, tmp_path
):
    # Notebook 10's GPU cell passes checkpoint=ckpt, and resume=ckpt once the file exists: running
    # it again after a finished run trains nothing and loses nothing; more steps continue from it.
    ckpt = tmp_path / "train.npz"
    done = fast.train(style, images, steps=2, seed=5, checkpoint=ckpt, **QUICK)
    again = fast.train(style, images, steps=2, seed=5, checkpoint=ckpt, resume=ckpt, **QUICK)
    assert again.extra["step"] == 2 and [r.step for r in again.history] == [1, 2]
    for a, b in zip(weights_of(done.network), weights_of(again.network), strict=True):
        np.testing.assert_array_equal(a, b)
    longer = fast.train(style, images, steps=3, seed=5, checkpoint=ckpt, resume=ckpt, **QUICK)
    assert [r.step for r in longer.history] == [1, 2, 3]
    assert [r.total for r in longer.history[:2]] == [r.total for r in done.history]
    assert fast.train(style, images, steps=3, seed=5, resume=ckpt, **QUICK).extra["step"] == 3


def test_a_generator_that_runs_out_ends_training_early(style, images):
    result = fast.train(style, iter(list(images[:3])), steps=5, quiet=True, **QUICK)
    assert result.extra["stopped"] == "exhausted" and result.extra["step"] == 1


def test_folders_and_datasets_give_square_crops(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    stylelib.save_image(smooth_image(40, 56, 1), folder / "a.png")
    stylelib.save_image(smooth_image(48, 36, 2), folder / "sub" / "b.JPG")
    (folder / "notes.txt").write_text("not an image")
    stream = fast._ContentStream(folder, 32, seed=0)
    assert [p.name for p in stream.items] == ["a.png", "b.JPG"]
    batch = stream.batch(3)  # the third image starts the second epoch
    assert batch.shape == (3, 32, 32, 3) and batch.dtype == np.float32
    again = fast._ContentStream(folder, 32, seed=0)
    again.position = 2
    np.testing.assert_array_equal(again.batch(1)[0], batch[2])  # where a resumed run goes on
    pixels = (np.stack([smooth_image(36, 40, s) for s in (1, 2)]) * 255).astype(np.uint8)
    dataset = tf.data.Dataset.from_tensor_slices({"image": pixels, "label": [0, 1]})
    crops = fast._ContentStream(dataset, 32, seed=0).batch(3)  # repeated endlessly
    assert crops.shape == (3, 32, 32, 3) and 0 <= crops.min() and crops.max() <= 1
    skipped = fast._ContentStream(dataset, 32, seed=0)
    skipped.position = 2
    np.testing.assert_array_equal(skipped.batch(1)[0], crops[2])


def test_generated_content_is_offline_and_seeded():
    first = fast.generated_content(32, seed=4)
    images = [next(first) for _ in range(3)]
    again = next(fast.generated_content(32, seed=4))
    assert all(i.shape == (32, 32, 3) and i.dtype == np.float32 for i in images)
    assert all(0.0 <= i.min() and i.max() <= 1.0 for i in images)
    np.testing.assert_array_equal(images[0], again)
    assert not np.array_equal(images[0], images[1])


def test_tfds_content_says_what_is_missing():
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        with pytest.raises(StylelibError, match="tensorflow_datasets is not installed"):
            fast.tfds_content("tf_flowers")
    else:
        pytest.skip("tensorflow_datasets is installed; its download is not tested offline")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"steps": -1}, "steps must be a whole number >= 0"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"steps": 1, "batch_size": 0}, "batch_size must be"),
        ({"steps": 1, "image_size": 16}, "image_size must be a whole number >= 32"),
        ({"steps": 1, "learning_rate": 0}, "learning_rate must be"),
        ({"steps": 1, "width": 0}, "width must be"),
        ({"steps": 1, "stop": 3}, "stop must be"),
        ({"steps": 1, "checkpoint_every": 2}, "checkpoint_every needs checkpoint"),
    ],
)
def test_bad_arguments_are_named(style, images, kwargs, match):
    settings = {**QUICK, **kwargs}
    with pytest.raises(ValueError, match=match):
        fast.train(style, images, **settings)


def test_bad_content_is_named(style, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match="content '.*empty': no .* images"):
        fast.train(style, empty, steps=1, **QUICK)
    with pytest.raises(ImageError, match="no such folder"):
        fast.train(style, tmp_path / "missing", steps=1, **QUICK)
    with pytest.raises(ImageError, match=r"content\[1\] '.*nope.png': no such file"):
        fast.train(style, [__file__, tmp_path / "nope.png"], steps=1, **QUICK)
    with pytest.raises(ImageError, match=r"shaped \[N, H, W, 3\], got \(32, 32, 3\)"):
        fast.train(style, smooth_image(32, 32, 1), steps=1, **QUICK)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "fake.png").write_text("not a png")
    with pytest.raises(
        ImageError, match="content: '.*fake.png': not an image Pillow can read .at training step 1."
    ):
        fast.train(style, broken, steps=1, **QUICK)
    with pytest.raises(ImageError, match="style"):
        fast.train(tmp_path / "no-style.png", broken, steps=1, **QUICK)
    with pytest.raises(ValueError, match="width must be a whole number >= 1"):
        fast.transformer_network(width=0)


# --- saving, loading, applying --------------------------------------------------------------


def test_save_and_load_give_identical_outputs_and_metadata(trained, tmp_path):
    path = fast.save_network(trained.network, tmp_path / "net.keras")
    loaded = fast.load_network(path)
    x = tf.random.uniform([1, 37, 45, 3], seed=3)
    np.testing.assert_array_equal(trained.network(x), loaded(x))
    info = fast.network_info(loaded)
    assert info == fast.network_info(trained.network)
    assert info["vgg_weights"] == "random" and info["vgg_weights_trained"] is False
    assert info["steps"] == 12 and info["settings"]["width"] == 4
    assert len(info["style_digest"]) == 64
    with pytest.raises(fast.NetworkError, match="already exists; pass overwrite=True"):
        fast.save_network(trained.network, path)
    fast.save_network(loaded, path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["net.keras"]  # no temporary file left


def test_bad_network_files_are_named(trained, tmp_path):
    with pytest.raises(fast.NetworkError, match="'.*missing.keras': no such file"):
        fast.load_network(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(fast.NetworkError, match="corrupt.keras': not a Keras .keras file"):
        fast.load_network(corrupt)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    with pytest.raises(fast.NetworkError, match="empty.keras': could not be loaded"):
        fast.load_network(empty_zip)
    with pytest.raises(fast.NetworkError, match="must end in .keras"):
        fast.save_network(trained.network, tmp_path / "net.h5")
    with pytest.raises(fast.NetworkError, match="must be a Keras model"):
        fast.apply_network(object(), smooth_image(32, 32, 1))


def test_apply_network_takes_paths_and_arrays(trained, tmp_path):
    image_path = tmp_path / "photo.png"
    stylelib.save_image(smooth_image(36, 50, 1), image_path)
    out = fast.apply_network(trained.network, image_path)
    assert out.shape == (1, 36, 50, 3)
    smaller = fast.apply_network(trained.network, smooth_image(36, 50, 1), max_dim=48)
    assert smaller.shape == (1, 35, 48, 3)
    with pytest.raises(ImageError, match="image: "):
        fast.apply_network(trained.network, tmp_path / "missing.png")


def test_apply_to_folder_never_overwrites_unless_told(trained, tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    stylelib.save_image(smooth_image(36, 40, 1), source / "a.png")
    stylelib.save_image(smooth_image(40, 33, 2), source / "sub" / "b.jpg")
    target = source / "styled"  # inside in_dir: its images must not be read as inputs
    written = fast.apply_to_folder(trained.network, source, target)
    assert sorted(p.relative_to(target).as_posix() for p in written) == ["a.png", "sub/b.jpg"]
    assert stylelib.load_image(target / "sub" / "b.jpg", max_dim=None).shape == (1, 40, 33, 3)
    before = (target / "a.png").read_bytes()
    with pytest.raises(fast.NetworkError, match="2 output.* exist already"):
        fast.apply_to_folder(trained.network, source, target)
    assert (target / "a.png").read_bytes() == before
    assert len(fast.apply_to_folder(trained.network, source, target, overwrite=True)) == 2
    with pytest.raises(fast.NetworkError, match="is in_dir"):
        fast.apply_to_folder(trained.network, source, source)


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(3):
        stylelib.save_image(smooth_image(36, 44, k), folder / f"p{k}.png")
    stylelib.save_image(smooth_image(40, 40, 9), tmp_path / "style.png")
    return tmp_path


TRAIN_ARGS = ["--image-size", "32", "--batch-size", "2", "--width", "4", "--residual-blocks", "1"]
TRAIN_ARGS += ["--content-layers", "block2_conv2", "--style-layers", "block1_conv1,block2_conv1"]
TRAIN_ARGS += ["--weights", "random", "-q"]


def test_train_interrupted_resumed_and_applied(photos, capsys, monkeypatch):
    net, ckpt = photos / "net.keras", photos / "train.npz"
    argv = [str(photos / "style.png"), str(photos / "photos"), "-o", str(net), "--steps", "2"]
    argv += TRAIN_ARGS + ["--checkpoint", str(ckpt)]
    with monkeypatch.context() as patch:  # as if Ctrl-C came during the first step
        patch.setattr(fast, "_check_stop", lambda stop, flag: "interrupted")
        assert fast_cli.train_main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted after 1 of 2 steps" in err and f"--resume {ckpt} --overwrite" in err
    assert fast.network_info(fast.load_network(net))["steps"] == 1  # the last weights, saved
    assert fast_cli.train_main(argv + ["--resume", str(ckpt)]) == 2
    assert f"--output '{net}': already exists; pass --overwrite" in capsys.readouterr().err
    assert fast_cli.train_main(argv + ["--resume", str(ckpt), "--overwrite"]) == 0
    assert fast.network_info(fast.load_network(net))["steps"] == 2

    out = photos / "styled.png"
    photo = str(photos / "photos" / "p0.png")
    assert fast_cli.apply_main([str(net), photo, "-o", str(out)]) == 0
    assert stylelib.load_image(out, max_dim=None).shape == (1, 36, 44, 3)
    assert "UNTRAINED VGG19 weights" in capsys.readouterr().err
    assert fast_cli.apply_main([str(net), photo, "-o", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    folder_out = photos / "styled"
    assert fast_cli.apply_main([str(net), str(photos / "photos"), "-o", str(folder_out), "-q"]) == 0
    assert sorted(p.name for p in folder_out.iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert fast_cli.apply_main([str(net), photo, "-o", photo, "--overwrite"]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    new = str(photos / "new.png")
    assert fast_cli.apply_main([str(photos / "none.keras"), photo, "-o", new]) == 2
    assert "none.keras': no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--steps", "-1"], "--steps: must be at least 1"),
        (["--steps", "2", "--image-size", "8"], "--image-size: must be at least 32"),
        (["--steps", "2", "--learning-rate", "0"], "--learning-rate: must be a finite number > 0"),
        (["--steps", "2", "--checkpoint-every", "1"], "--checkpoint-every: needs checkpoint"),
        (["--steps", "2", "--style-layers", "nope"], "--content-layers/--style-layers: unknown"),
    ],
)
def test_train_command_names_the_flag(photos, capsys, extra, message):
    argv = [str(photos / "style.png"), str(photos / "photos"), "-o", str(photos / "n.keras")]
    assert fast_cli.train_main(argv + extra + ["--weights", "random", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylelib-train: error: ") and message in err, err
    assert not (photos / "n.keras").exists()


def test_train_command_refuses_other_outputs_and_missing_content(photos, capsys):
    style = str(photos / "style.png")
    assert fast_cli.train_main([style, str(photos / "photos"), "-o", "x.h5", "--steps", "1"]) == 2
    assert "--output 'x.h5': use a file name ending in .keras" in capsys.readouterr().err
    argv = [style, str(photos / "none"), "-o", str(photos / "n.keras"), "--steps", "1"]
    assert fast_cli.train_main(argv + ["--weights", "random", "-q"]) == 2
    assert "content '" in capsys.readouterr().err
