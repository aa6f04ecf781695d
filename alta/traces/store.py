"""Traces on disk: sharded `.npz` files and a JSON manifest, written as a stream.

    out/manifest.json      program, layout, variables, noise, counts, the shard list
    out/traces-00000.npz   at most `shard_records` records each

`write` traces `batch_size` sequences at a time and holds at most two shards' and one
batch's worth of records (while it cuts a shard), so a million sequences never sit in
memory (benchmarks/traces.py measures it). The manifest is written
last: a directory without one is an unfinished write. Vectors are stored before noise;
`read` gives each shard the writer's noise setting and its own seed.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from alta.errors import InputError, TraceError
from alta.ir import dense, symbolic
from alta.ir.types import Kind
from alta.traces import extract
from alta.traces import noise as noise_mod
from alta.traces.trace import Trace, concat

FORMAT, FORMAT_VERSION = "alta-traces", 1
MANIFEST = "manifest.json"


def write(
    program: symbolic.Program,
    inputs: Iterable[Any],
    out_dir: str | os.PathLike[str],
    *,
    max_layers: int | None = None,
    model: extract.Target | None = None,
    batch_size: int = 256,
    shard_records: int = 1 << 18,
    noise: Any = noise_mod.DEFAULT,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Trace every sequence of `inputs` (any iterable, e.g. a generator) into `out_dir`;
    returns the manifest. `model` as in `trace`: compiled once here if not given."""
    if batch_size < 1 or shard_records < 1:
        raise TraceError(
            f"batch_size and shard_records must be >= 1, got {batch_size}, {shard_records}"
        )
    bounds = noise_mod.check(noise)
    out = _prepare(out_dir, overwrite)
    module, sparse_ir = extract.compiled(program, model)
    shards = _Shards(out, shard_records)
    stream = iter(inputs)
    first = 0
    while batch := list(itertools.islice(stream, batch_size)):
        try:
            part = extract.trace(
                program, batch, max_layers, model=module, noise=bounds, first_sequence=first
            )
        except InputError as exc:
            raise InputError(f"in the batch of sequences from {first}: {exc}") from exc
        shards.add(part)
        first += len(batch)
    shards.close()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "alta_version": _version(),
        "program": program.name,
        "output": program.output,
        "d_model": module.d_model,
        "layout": [_slot_json(s) for s in module.layout],
        "variables": [_var_json(n, v) for n, v in program.vars.items()],
        "noise": None if bounds is None else list(bounds),
        "seed": seed,
        "max_layers": max_layers,
        "batch_size": batch_size,
        "shard_records": shard_records,
        "sequences": first,
        "records": sum(s["records"] for s in shards.written),
        "shards": shards.written,
        "sparse_ir": None if sparse_ir is None else str(sparse_ir),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, default=_plain) + "\n")
    os.replace(tmp, out / MANIFEST)
    return manifest


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise TraceError(
            f"{path}: no trace manifest (not a trace directory, or an unfinished write)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace manifest ({exc})") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise TraceError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise TraceError(f"{path}: not an {FORMAT} v{FORMAT_VERSION} manifest")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise TraceError(f"{path}: not an {FORMAT} v{FORMAT_VERSION} manifest")
    return manifest


def read(out_dir: str | os.PathLike[str]) -> Iterator[Trace]:
    """The shards of `out_dir`, in order, one `Trace` each (shard k draws its noise from
    seed (manifest seed, k))."""
    manifest = read_manifest(out_dir)
    try:
        layout = tuple(
            dense.Slot(
                s["var"],
                Kind(s["kind"]),
                s["start"],
                tuple(s["values"]),
                s.get("encoding", dense.ONE_HOT),
                s.get("bits", 0),
            )
            for s in manifest["layout"]
        )
        variables = {v["name"]: _var(v) for v in manifest["variables"]}
        noise = None if manifest["noise"] is None else tuple(manifest["noise"])
        shards = [str(shard["file"]) for shard in manifest["shards"]]
        seed = int(manifest["seed"])
        named = {key: manifest[key] for key in ("program", "output", "d_model")}
        sparse_text = manifest.get("sparse_ir")
        if sparse_text is not None and not isinstance(sparse_text, str):
            raise TypeError(f"sparse_ir is {type(sparse_text).__name__}, not IR2 text")
    except (KeyError, TypeError, ValueError) as exc:
        path = Path(out_dir) / MANIFEST
        raise TraceError(f"{path}: a damaged manifest ({type(exc).__name__}: {exc})") from None
    sparse_ir = None
    if sparse_text:
        from alta.ir import parser

        sparse_ir = parser.parse_sparse(sparse_text)
    for k, name in enumerate(shards):
        path = Path(out_dir) / name
        z = _load_shard(path)
        try:
            offsets, tokens = z["inputs.offsets"], z["inputs.tokens"]
            trace = Trace(
                **named,
                layout=layout,
                variables=variables,
                sequence=z["sequence"],
                layer=z["layer"],
                position=z["position"],
                values_in={n: z[f"in.{i}"] for i, n in enumerate(variables)},
                values_out={n: z[f"out.{i}"] for i, n in enumerate(variables)},
                vector_in=z["vector_in"],
                vector_out=z["vector_out"],
                inputs=tuple(tuple(tokens[a:b].tolist()) for a, b in itertools.pairwise(offsets)),
                first_sequence=int(z["inputs.first"]),
                noise=noise,  # type: ignore[arg-type]
                seed=(seed, k),
                sparse_ir=sparse_ir,
            )
        except KeyError as exc:
            raise TraceError(f"{path}: a damaged trace shard (no array {exc})") from None
        yield trace


def _load_shard(path: Path) -> dict[str, np.ndarray]:
    """Every array of one shard, or a TraceError naming the file."""
    if not path.is_file():
        raise TraceError(f"{path}: a trace shard the manifest lists is missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise TraceError(
            f"{path}: cannot read this trace shard, damaged or not an .npz file ({exc})"
        ) from None


class _Shards:
    """Buffers traces and writes them out `size` records at a time."""

    def __init__(self, out: Path, size: int) -> None:
        self.out, self.size = out, size
        self.buffer: list[Trace] = []
        self.buffered = 0
        self.written: list[dict[str, Any]] = []

    def add(self, part: Trace) -> None:
        self.buffer.append(part)
        self.buffered += len(part)
        if self.buffered < self.size:
            return
        whole, cut = concat(self.buffer), 0
        while len(whole) - cut >= self.size:
            self._write(whole.take(cut, cut + self.size))
            cut += self.size
        rest = _copied(whole.take(cut, len(whole)))  # a view would keep `whole` alive
        self.buffer, self.buffered = [rest], len(rest)

    def close(self) -> None:
        if self.buffered:
            self._write(concat(self.buffer))
        self.buffer, self.buffered = [], 0

    def _write(self, t: Trace) -> None:
        name = f"traces-{len(self.written):05d}.npz"
        lengths = np.asarray([len(seq) for seq in t.inputs], dtype=np.int64)
        arrays = {
            "sequence": t.sequence,
            "layer": t.layer,
            "position": t.position,
            "vector_in": t.vector_in,
            "vector_out": t.vector_out,
            "inputs.first": np.int64(t.first_sequence),
            "inputs.offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "inputs.tokens": np.fromiter(
                itertools.chain.from_iterable(t.inputs), dtype=np.int64, count=int(lengths.sum())
            ),
        }
        for i, n in enumerate(t.variables):
            arrays[f"in.{i}"], arrays[f"out.{i}"] = t.values_in[n], t.values_out[n]
        tmp = self.out / (name + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, self.out / name)
        self.written.append(
            {
                "file": name,
                "records": len(t),
                "first_sequence": t.first_sequence,
                "sequences": len(t.inputs),
            }
        )


def _copied(t: Trace) -> Trace:
    return attrs.evolve(
        t,
        sequence=t.sequence.copy(),
        layer=t.layer.copy(),
        position=t.position.copy(),
        values_in={k: v.copy() for k, v in t.values_in.items()},
        values_out={k: v.copy() for k, v in t.values_out.items()},
        vector_in=t.vector_in.copy(),
        vector_out=t.vector_out.copy(),
    )


def _prepare(out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    if not os.fspath(out_dir):
        raise TraceError("the trace directory is '' (empty); name a directory")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TraceError(f"{out} exists and is not a directory")
    try:
        old = sorted(out.glob("traces-*.npz")) + sorted(out.glob(MANIFEST)) if out.is_dir() else []
        if old and not overwrite:
            raise TraceError(
                f"{out} already holds traces ({old[0].name}); pass overwrite=True "
                "(alta trace --overwrite) to replace them"
            )
        for path in old:
            path.unlink()
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TraceError(f"cannot make the trace directory {out}: {exc}") from None
    return out


def _slot_json(slot: dense.Slot) -> dict[str, Any]:
    return {
        "var": slot.var,
        "kind": str(slot.kind),
        "start": slot.start,
        "width": slot.width,
        "values": list(slot.values),
        "encoding": slot.encoding,
        "bits": slot.bits,
    }


def _var_json(name: str, var: symbolic.Var) -> dict[str, Any]:
    return {"name": name, "kind": str(var.kind), "range": getattr(var, "range", None)}


def _var(spec: dict[str, Any]) -> symbolic.Var:
    """A variable spec that decodes raw values (its init functions are not needed)."""
    if spec["kind"] == Kind.CATEGORICAL:
        return symbolic.CategoricalVar(range=spec["range"], default=None)
    if spec["kind"] == Kind.SET:
        return symbolic.SetVar(range=spec["range"], default=None)
    return symbolic.NumericalVar(default=None)


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, frozenset):
        return sorted(x)
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def _version() -> str:
    try:
        return importlib.metadata.version("alta")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
