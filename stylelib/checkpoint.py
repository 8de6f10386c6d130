"""Checkpoints: everything a ``stylize`` run needs to continue later, in one ``.npz`` file.

A checkpoint holds the image at the current scale, the optimiser's state (Adam's moment estimates
and step counter), the step and scale, the history, and a fingerprint of what made the run: the
resolved settings, digests of the content, style and mask pixels, a digest of the VGG19 weights and
the stylelib version. Resuming compares the fingerprint with the new call's and refuses a
checkpoint made by another run, naming what differs, rather than mixing two runs silently.

The file is a NumPy ``.npz`` archive read without pickle (plain arrays plus one JSON string), and it
is written atomically: to a temporary file beside it, then renamed over it, so an interrupted or
failed write (a full disk) leaves the previous checkpoint as it was.
Introduced in the README's "Long runs" section.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .images import write_atomically

#: Written into every checkpoint; a checkpoint with another format number is refused.
FORMAT = "stylelib-checkpoint"
FORMAT_VERSION = 1


def array_digest(array) -> str:
    """SHA-256 of an array's float32 pixels and shape: the identity of an image or mask."""
    values = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    digest = hashlib.sha256(repr(values.shape).encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def weights_digest(model) -> str:
    """SHA-256 of every weight of a Keras model, in order: which VGG19 weights made a run."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode() if hasattr(weight, "path") else weight.name.encode())
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def check_path(path, name: str, *, must_exist: bool) -> Path:
    """The checkpoint ``path`` as a Path, or CheckpointError naming the argument ``name``.

    For reading (``must_exist``) it must be an existing file; for writing it must not be a
    folder, and its folder must exist (or be creatable) and be writable.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise CheckpointError(f"{name} must be a file path, got {path!r}")
    target = Path(path)
    if must_exist:
        if not target.exists():
            raise CheckpointError(f"{name} '{target}': no such file")
        if not target.is_file():
            raise CheckpointError(f"{name} '{target}': is not a file")
        return target
    if target.is_dir():
        raise CheckpointError(f"{name} '{target}': is a folder, not a file name")
    if target.exists() and not target.is_file():
        raise CheckpointError(f"{name} '{target}': exists and is not a regular file")
    if target.exists() and not os.access(target, os.W_OK):
        raise CheckpointError(f"{name} '{target}': the existing file is read-only")
    folder = target.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise CheckpointError(f"{name} '{target}': '{folder}' is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CheckpointError(f"{name} '{target}': cannot create files in '{folder}'")
    return target


def save(path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write a checkpoint atomically: ``meta`` (JSON-serialisable) and named arrays.

    Raises CheckpointError naming the file (a full disk, a read-only folder); the previous file
    at ``path``, if any, is then left untouched and no temporary file remains.
    """
    target = Path(os.path.realpath(path))
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    payload = {"meta": np.array(json.dumps(record, sort_keys=True))}
    payload.update({f"a_{key}": np.asarray(value) for key, value in arrays.items()})
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(
            f"checkpoint '{path}': cannot create its folder ({exc.strerror or exc})"
        ) from None

    def failed(stage: str, exc: OSError) -> CheckpointError:
        return CheckpointError(
            f"checkpoint '{path}': cannot write ({exc.strerror or exc}); the previous checkpoint, "
            "if any, is unchanged"
        )

    write_atomically(target, lambda stream: np.savez(stream, **payload), failed)
    return Path(path)


def load(path, name: str = "resume") -> tuple[dict, dict[str, np.ndarray]]:
    """Read a checkpoint: (meta, arrays). CheckpointError naming ``name`` and the file otherwise."""
    target = check_path(path, name, must_exist=True)
    try:
        with open(target, "rb") as handle:
            data = handle.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {k[2:]: archive[k] for k in archive.files if k.startswith("a_")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(
            f"{name} '{target}': not a stylelib checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} '{target}': not a stylelib checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{name} '{target}': checkpoint format {meta.get('format_version')}, this stylelib "
            f"reads format {FORMAT_VERSION}"
        )
    return meta, arrays


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(saved: dict, current: dict) -> list[str]:
    """What differs between two fingerprints, one phrase per field, e.g. "steps: 200 here, 400
    in the checkpoint"; digests are reported as "differs" (their values mean nothing to a reader)."""
    found = []
    for key in sorted(set(saved) | set(current)):
        here, there = current.get(key), saved.get(key)
        if here == there:
            continue
        if key.endswith("digest") or key.endswith("digests"):
            found.append(f"{key.replace('_digests', '').replace('_digest', '')} differs")
        else:
            found.append(f"{key}: {_short(here)} here, {_short(there)} in the checkpoint")
    return found


def check_compatible(saved: dict, current: dict, path, name: str = "resume") -> None:
    """CheckpointError unless the two fingerprints are equal, listing every difference."""
    found = differences(saved, current)
    if found:
        raise CheckpointError(
            f"{name} '{path}': made by a different run, so it cannot be continued with these "
            f"arguments ({'; '.join(found)}). Call again with the arguments of that run, or start "
            "afresh without resume"
        )
