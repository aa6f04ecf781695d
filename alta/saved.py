"""Saved models: the printed IR3 of a compiled model plus its weights, versioned.

`NAME.alta` is the text `alta opt` prints, after a header of `//` comments (which the IR
parser skips) naming the format version, the alta that wrote it, the weights file and
the model's statistics; `NAME.safetensors` beside it holds the weights under the names
the text gives (`NAME.npz` where safetensors is not installed). Text, so that a saved
model can be read, diffed and fed to `alta opt`; versioned, so that a reader refuses a
file it cannot read rather than misread it. docs/saved-models.md is the reference.

This module reads and writes files only; `CompiledModel.save` and `alta.load` build on it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from alta.errors import AltaError, SavedModelError
from alta.ir import dense

#: The version of the format this alta writes and the newest it reads.
FORMAT_VERSION = 1
#: The first line of every saved model.
MAGIC = "// alta saved model"
SUFFIX = ".alta"


@attrs.frozen
class Header:
    """What the `//` lines above the IR3 text say."""

    format_version: int
    alta_version: str
    weights: str  # the weights file's name, beside the .alta file
    weights_sha256: str | None = None
    stats: dict[str, Any] = attrs.field(factory=dict)


def alta_version() -> str:
    try:
        return importlib.metadata.version("alta")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def save(path: str | os.PathLike[str], module: dense.Module, stats: dict[str, Any]) -> Path:
    """Write `module` to `path` (which must end in .alta) and its weights beside it;
    returns the weights file's path."""
    path = _as_path(path, "save a model as")
    if path.suffix != SUFFIX:
        raise SavedModelError(f"a saved model's file name ends in {SUFFIX}; got '{path}'")
    if not path.parent.is_dir():
        raise SavedModelError(
            f"cannot write the saved model '{path}': directory '{path.parent}' does not exist"
        )
    if path.is_dir():  # checked first, so that no weights file is left behind
        raise SavedModelError(f"cannot write the saved model '{path}': it is a directory")
    weights_path = path.with_suffix(_weights_suffix())
    arrays = {name: np.ascontiguousarray(a, dtype=np.float64) for name, a in module.weights.items()}
    try:
        _write_weights(weights_path, arrays)
        header = Header(
            FORMAT_VERSION, alta_version(), weights_path.name, _sha256(weights_path), stats
        )
        path.write_text(header_text(header) + f"{module}\n", encoding="utf-8")
    except OSError as exc:
        raise SavedModelError(f"cannot write the saved model '{path}': {exc}") from None
    return weights_path


def header_text(header: Header) -> str:
    """The header's `//` lines (each `// key: value`, values as JSON where not plain)."""
    lines = [
        MAGIC,
        f"// format_version: {header.format_version}",
        f"// alta_version: {header.alta_version}",
        f"// weights: {header.weights}",
    ]
    if header.weights_sha256 is not None:
        lines.append(f"// weights_sha256: {header.weights_sha256}")
    lines.append(f"// stats: {json.dumps(header.stats, sort_keys=True, default=_plain)}")
    return "".join(line + "\n" for line in lines)


def read(path: str | os.PathLike[str]) -> tuple[dense.Module, Header]:
    """The IR3 module saved at `path` (verified, with its weights) and its header.

    A file without the header (IR3 text that `alta opt` printed) is read too, with its
    weights from NAME.safetensors or NAME.npz beside it."""
    path = _as_path(path, "load a model from")
    text = _read_text(path)
    header = parse_header(text, path)
    if header is None:
        weights_path = find_weights(path)
        header = Header(0, "unknown", weights_path.name)
    weights_path = path.with_name(_weights_name(header.weights, path))
    if not weights_path.is_file():
        raise SavedModelError(f"'{path}': its weights file '{weights_path}' does not exist")
    if header.weights_sha256 is not None and _sha256(weights_path) != header.weights_sha256:
        raise SavedModelError(
            f"'{path}': the weights file '{weights_path}' is not the one saved with it (its "
            "sha256 differs from the header's weights_sha256); it was changed or corrupted"
        )
    weights = read_weights(weights_path)
    from alta.ir import parser

    if parser.header_level(text) != "dense":
        raise SavedModelError(f"'{path}' does not hold an alta.dense (IR3) module")
    try:
        return parser.parse(text, weights), header
    except AltaError as exc:
        raise SavedModelError(f"'{path}': {exc}") from None


def parse_header(text: str, path: Path) -> Header | None:
    """The header of a saved model's text; None when the text has none (plain IR3)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line.startswith("//"):
            break
        key, sep, value = line[2:].partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    version = _format_version(fields.get("format_version"), path)
    if version < 1:
        raise SavedModelError(
            f"'{path}': the header's format_version is {version}; versions start at 1"
        )
    if version > FORMAT_VERSION:
        raise SavedModelError(
            f"'{path}' is in saved-model format {version}, written by alta "
            f"{fields.get('alta_version', 'unknown')}; this alta ({alta_version()}) reads "
            f"formats up to {FORMAT_VERSION}: upgrade alta to load it"
        )
    if "weights" not in fields:
        raise SavedModelError(f"'{path}': the header names no weights file ('// weights: ...')")
    try:
        stats = json.loads(fields.get("stats", "{}"))
    except json.JSONDecodeError as exc:
        raise SavedModelError(f"'{path}': the header's stats are not JSON ({exc})") from None
    return Header(
        version,
        fields.get("alta_version", "unknown"),
        fields["weights"],
        fields.get("weights_sha256"),
        stats if isinstance(stats, dict) else {},
    )


def find_weights(path: Path) -> Path:
    """The weights beside the IR3 text `path`: NAME.safetensors, else NAME.npz."""
    for suffix in (".safetensors", ".npz"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise SavedModelError(
        f"'{path}' holds alta.dense (IR3), whose weights are not part of the text; put them "
        f"beside it as '{path.with_suffix('.safetensors')}' or '{path.with_suffix('.npz')}' "
        "(np.savez(path, **module.weights))"
    )


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .safetensors or .npz file, or a SavedModelError naming it."""
    try:
        if path.suffix == ".safetensors":
            return _read_safetensors(path)
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SavedModelError(f"cannot read the weights file '{path}': {exc}") from None


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:
        raise SavedModelError(
            f"reading '{path}' needs safetensors: pip install safetensors (or 'alta[learn]')"
        ) from None
    try:
        with safe_open(os.fspath(path), framework="np") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except SafetensorError as exc:
        raise SavedModelError(f"cannot read the weights file '{path}': {exc}") from None


def _weights_suffix() -> str:
    return ".safetensors" if importlib.util.find_spec("safetensors") else ".npz"


def _write_weights(path: Path, arrays: dict[str, np.ndarray]) -> None:
    if path.suffix == ".npz":
        with path.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        return
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    try:
        save_file(arrays, os.fspath(path), metadata={"format_version": str(FORMAT_VERSION)})
    except SafetensorError as exc:  # its I/O errors are not OSErrors
        raise OSError(f"cannot write '{path}': {exc}") from None


def _as_path(path: Any, doing: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise SavedModelError(
            f"cannot {doing} {path!r}: a path is a str or os.PathLike, not {type(path).__name__}"
        )
    return Path(path)


def _weights_name(name: str, path: Path) -> str:
    """The header's weights file name, which must be a bare name: the file lies beside
    the .alta file, never elsewhere."""
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise SavedModelError(
            f"'{path}': the header's weights file {name!r} is not a bare file name; it must "
            "name a file in the same directory as the .alta file (e.g. 'model.safetensors')"
        )
    return name


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise SavedModelError(f"saved model '{path}' is a directory, not a .alta file")
    if not path.is_file():
        raise SavedModelError(f"saved model '{path}' does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SavedModelError(f"cannot read the saved model '{path}': {exc}") from None


def _format_version(value: str | None, path: Path) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise SavedModelError(
            f"'{path}': the header's format_version is {value!r}, not an integer"
        ) from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")
