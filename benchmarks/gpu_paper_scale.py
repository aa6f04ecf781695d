"""Paper-scale programs on a GPU: throughput and each backend's share of the card's roofline.

    python benchmarks/gpu_paper_scale.py --device cuda [--paper-alta PAPER_CHECKOUT]
        [--batches 1 64 1024] [--programs NAME ...] [--variants LABEL ...] [--deadline S]
    python benchmarks/gpu_paper_scale.py --device cpu --quick     # smoke test, no GPU

Programs: our library's scan, addition and subleq (function and rule forms) and, with
--paper-alta (or $PAPER_ALTA) naming a checkout of google-deepmind/alta, the paper's SCAN
and SUBLEQ rule programs imported unchanged through `import alta.compat.paper`. Each
program is compiled once; every variant (torch eager, with `mlp=` dense and sparse when
the torch backend takes that option, torch.compile, CUDA graphs, jax jit, onnxruntime's
CUDA provider) is built from the same IR, checked against the interpreter, then timed at
each batch size. Reported: sequences/s, token·layers/s, achieved FLOP/s and bytes/s, and
their shares of the card's peak FLOP/s and memory bandwidth (a table of H100, H200 and
A100 peaks; on CPU the peak is the measured 1024² float32 matmul rate). Measurements that
would start after --deadline seconds are skipped, so a device session stays bounded.
Writes DIR/gpu-paper-scale-<device>[-quick].{md,json} (DIR: benchmarks/results) and
copies them to $OUT when it is set.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import alta
from alta import interp, programs
from alta.backends import base
from alta.bench.backends import flops_per_token_layer, matmul_rate
from alta.model import CompiledModel

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LIBRARY = ["scan", "addition", "addition_rules", "subleq", "subleq_rules"]
PAPER = ["paper subleq_sparse", "paper scan_sparse"]
#: The paper's SCAN takes about 20 + 12 x (actions out) layers: commands of at most this
#: many actions keep a batch of 1024 near 100 layers.
SCAN_MAX_OUT = 8

#: Dense peaks per card: FP32 (CUDA cores), TF32 tensor cores, HBM bandwidth (bytes/s).
#: Vendor datasheet numbers, without structured sparsity; SXM unless the name says PCIe.
PEAKS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67e12, "tf32": 494.7e12, "bytes": 4.8e12},
    "H100 PCIe": {"fp32": 51e12, "tf32": 378e12, "bytes": 2.0e12},
    "H100": {"fp32": 67e12, "tf32": 494.7e12, "bytes": 3.35e12},
    "A100 PCIe 40GB": {"fp32": 19.5e12, "tf32": 156e12, "bytes": 1.555e12},
    "A100 40GB": {"fp32": 19.5e12, "tf32": 156e12, "bytes": 1.555e12},
    "A100 PCIe": {"fp32": 19.5e12, "tf32": 156e12, "bytes": 1.935e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bytes": 2.039e12},
}


def card_peaks(name: str) -> tuple[str, dict[str, float] | None]:
    """The PEAKS row for an nvidia-smi card name ("NVIDIA H100 80GB HBM3"), most specific
    key first; None for a card not in the table."""
    upper = name.upper().replace("-", " ")
    for key in sorted(PEAKS, key=len, reverse=True):
        if all(part.upper() in upper for part in key.split()):
            return key, PEAKS[key]
    return "", None


def card_name(device: str) -> str:
    if device == "cpu":
        return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        import torch

        return str(torch.cuda.get_device_name(0))


# --------------------------------------------------------------------------- programs


@attrs.frozen
class Workload:
    """A program with an input generator and a layer budget (None: it halts)."""

    name: str
    build: Callable[[], Any]
    generate: Callable[[random.Random, int], list[list[int]]]
    max_layers: int | None


def library(name: str) -> Workload:
    case = programs.get(name)

    def generate(rng: random.Random, n: int) -> list[list[int]]:
        seed = rng.randrange(2**31)
        return [list(map(int, x)) for x in case.generate(np.random.default_rng(seed), n)]

    return Workload(name, case.build, generate, case.max_layers)


def paper(name: str, checkout: Path) -> Workload:
    """The checkout's program through the compat shim, fed by vs_paper's generators."""
    sys.path.insert(0, str(checkout))
    sys.path.insert(0, str(HERE))
    import vs_paper

    import alta.compat.paper  # noqa: F401  (the checkout's `framework` resolves to alta)

    spec = vs_paper.BY_NAME[name.removeprefix("paper ")]
    settings = {"parity_len": 16}
    make = vs_paper.subleq_inputs if spec.task == "subleq" else None

    def generate(rng: random.Random, n: int) -> list[list[int]]:
        raws = make(rng, n) if make else vs_paper.scan_inputs(rng, n, False, SCAN_MAX_OUT)
        return [vs_paper.encode(spec, raw) for raw in raws]

    def build() -> Any:
        return getattr(vs_paper._example(spec.module), spec.builder)()

    return Workload(name, build, generate, vs_paper.budget(spec, settings))


# --------------------------------------------------------------------------- variants


def torch_mlp_values() -> list[str | None]:
    """The torch backend's `mlp` values to time (None: no torch here)."""
    return ["dense", "sparse"] if "torch" in base.available() else [None]


def variants(
    device: str, quick: bool, wanted: list[str] | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, backend, options) to time on `device`: those whose label contains one of
    `wanted` (all when None); torch is not even imported when none of its labels is."""

    def wants(*labels: str) -> bool:
        return not wanted or any(w in label for w in wanted for label in labels)

    have = set(base.available())
    out: list[tuple[str, str, dict[str, Any]]] = []
    if "torch" in have and wants("torch eager", "torch compile", "torch cuda graphs"):
        for mlp in torch_mlp_values():
            extra = {} if mlp is None else {"mlp": mlp}
            tag = "" if mlp is None else f" mlp={mlp}"
            out.append((f"torch eager{tag}", "torch", extra))
            if not quick:  # inductor takes minutes on a small CPU
                out.append((f"torch compile{tag}", "torch", {**extra, "compile": True}))
            if device == "cuda":
                out.append((f"torch cuda graphs{tag}", "torch", {**extra, "cuda_graphs": True}))
    if "jax" in have:
        out.append(("jax jit", "jax", {}))
    if "onnx" in have:
        out.append(("onnxruntime", "onnx", {}))
    return [v for v in out if wants(v[0])]


# --------------------------------------------------------------------------- roofline


def sparse_matrices(model: CompiledModel) -> set[str]:
    """The MLP weight matrices the backend runs sparse (`mlp=auto` may choose so too)."""
    execution = model.stats.get("mlp_execution", {})
    return {name for name, how in execution.items() if how == "sparse"}


def layer_bytes(model: CompiledModel, itemsize: int) -> tuple[int, int]:
    """(bytes of weights one layer reads, bytes of activations one token-layer moves): a
    lower-bound traffic model. Weights are read once per layer (the nonzeros plus a 4-byte
    index each for a sparse matrix); each token reads and writes its residual and each MLP
    hidden layer, and each head's q, k, v."""
    w = model.ir.weights
    loop_names = set(model.ir.mlp_weight_names())  # w, skips and b of every layer
    per_token = 0
    for head in model.ir.loop.attention.heads:
        loop_names |= {head.wq, head.bq, head.wk, head.bk, head.wv, head.bv, head.wo}
        per_token += w[head.wq].shape[1] * 2 + w[head.wv].shape[1]
    sparse = sparse_matrices(model)
    weights = 0
    for name in loop_names:
        if name in sparse:
            weights += int(np.count_nonzero(w[name])) * (itemsize + 4)
        else:
            weights += int(w[name].size) * itemsize
    per_token += 4 * model.ir.d_model + 2 * sum(model.ir.mlp_widths)
    return weights, per_token * itemsize


def mlp_flops_per_token_layer(model: CompiledModel, n: int) -> float:
    """Like `flops_per_token_layer`, counting only the nonzeros of sparse matrices."""
    flops = flops_per_token_layer(model, n)
    w = model.ir.weights
    for name in sparse_matrices(model):
        flops -= 2 * (w[name].size - np.count_nonzero(w[name]))
    return flops


# --------------------------------------------------------------------------- measuring


def work_layers(program: Any, inputs: list[list[int]], max_layers: int | None) -> np.ndarray:
    """Layers each sequence really runs (until it halts, or the layer that finds its fixed
    point), from the interpreter's per-layer records."""
    counts = np.zeros(len(inputs), dtype=np.int64)

    def observe(record: Any) -> None:
        counts[np.asarray(record.batch_index)] += 1

    interp.run(program, inputs, max_layers, observe=observe)
    return counts


def measure(
    work: Workload,
    program: Any,
    ir_model: CompiledModel,
    variant: tuple[str, str, dict[str, Any]],
    args: argparse.Namespace,
    check: tuple[list[list[int]], list[Any], float],
    peak: dict[str, float],
    deadline: float,
) -> dict[str, Any]:
    label, backend, options = variant
    row: dict[str, Any] = {"program": work.name, "variant": label}
    device = None if args.device == "cpu" else args.device
    start = time.perf_counter()
    executor = base.get(backend).build(ir_model.ir, device=device, **options)
    model = CompiledModel(ir=ir_model.ir, backend=backend, executor=executor, stats=ir_model.stats)
    row["build_s"] = time.perf_counter() - start
    inputs, want, mean_work = check
    unhalted = work.max_layers is not None
    if model(inputs, allow_unhalted=unhalted) != want:
        row["error"] = "disagrees with the interpreter"
        return row
    row["check_s"] = time.perf_counter() - start - row["build_s"]
    itemsize = 4
    weight_bytes, token_bytes = layer_bytes(model, itemsize)
    rng = random.Random(f"{work.name}-timing")
    for batch in args.batches:
        if time.perf_counter() > deadline:
            row[f"@{batch}"] = {"skipped": "deadline"}
            continue
        tokens, lengths = model.pad(work.generate(rng, batch))
        model.run(tokens, lengths, allow_unhalted=unhalted)  # warm-up: jit, graphs, caches
        times, ran = [], None
        for _ in range(args.reps):
            t0 = time.perf_counter()
            ran = model.run(tokens, lengths, allow_unhalted=unhalted)
            times.append(time.perf_counter() - t0)
            if times[-1] > args.slow:  # one slow run is enough
                break
        assert ran is not None
        median = statistics.median(times)
        layers = ran.layers if work.max_layers is None else np.full(batch, mean_work)
        token_layers = float(np.sum(lengths * layers))
        flops = token_layers * mlp_flops_per_token_layer(model, tokens.shape[1])
        moved = float(np.max(layers)) * weight_bytes + token_layers * token_bytes
        cell = {
            "seconds": median,
            "runs": len(times),
            "seq_per_s": batch / median,
            "token_layers_per_s": token_layers / median,
            "flop_per_s": flops / median,
            "bytes_per_s": moved / median,
            "layers_estimated": work.max_layers is not None,
        }
        cell["of_peak_flops"] = cell["flop_per_s"] / peak["fp32"] if peak.get("fp32") else None
        cell["of_tf32_peak"] = cell["flop_per_s"] / peak["tf32"] if peak.get("tf32") else None
        cell["of_peak_bytes"] = cell["bytes_per_s"] / peak["bytes"] if peak.get("bytes") else None
        row[f"@{batch}"] = cell
    return row


def run_program(
    work: Workload,
    args: argparse.Namespace,
    peak: dict[str, float],
    deadline: float,
) -> list[dict[str, Any]]:
    print(f"{work.name}: compiling ...", file=sys.stderr, flush=True)
    program = work.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", alta.CompileWarning)
        start = time.perf_counter()
        ir_model = alta.compile(program, max_layers=work.max_layers)
        compile_s = time.perf_counter() - start
    inputs = work.generate(random.Random(f"{work.name}-check"), args.check)
    result = interp.run(program, inputs, work.max_layers)
    mean_work = float(np.mean(work_layers(program, inputs, work.max_layers)))
    check = (inputs, result.outputs, mean_work)
    info = {k: ir_model.stats[k] for k in ("d_model", "mlp_widths", "params", "nonzeros")}
    rows: list[dict[str, Any]] = []
    for variant in variants(args.device, args.quick, args.variants):
        if time.perf_counter() > deadline:
            rows.append({"program": work.name, "variant": variant[0], "skipped": "deadline"})
            continue
        print(f"  {work.name} / {variant[0]} ...", file=sys.stderr, flush=True)
        row: dict[str, Any]
        try:
            row = measure(work, program, ir_model, variant, args, check, peak, deadline)
        except Exception as exc:  # one failing variant (e.g. out of memory) should not end the run
            row = {"program": work.name, "variant": variant[0], "error": f"{exc}"[:160]}
        rows.append({**row, "compile_s": compile_s, "work_layers_mean": mean_work, **info})
    return rows


# --------------------------------------------------------------------------- report


def table(rows: list[dict[str, Any]], batches: list[int]) -> str:
    head = ["program", "variant", "build s"]
    for b in batches:
        head += [f"seq/s @{b}", f"FLOP/s share @{b}", f"bandwidth share @{b}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["program"], r["variant"]]
        if "error" in r or "skipped" in r:
            cells += [_fmt(r.get("build_s")), r.get("error") or f"skipped ({r['skipped']})"]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells.append(_fmt(r["build_s"]))
        for b in batches:
            cell = r.get(f"@{b}", {})
            if "seq_per_s" not in cell:
                cells += [f"skipped ({cell.get('skipped', '-')})", "-", "-"]
                continue
            mark = "~" if cell["layers_estimated"] else ""
            rate = cell["seq_per_s"]
            cells += [
                f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}",
                _share(cell["of_peak_flops"], mark),
                _share(cell["of_peak_bytes"], mark),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sizes(rows: list[dict[str, Any]]) -> str:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "d_model" in r:
            seen.setdefault(r["program"], r)
    lines = ["| program | d_model | MLP widths | params | nonzeros | compile s | layers (mean) |"]
    lines.append("|---|---|---|---|---|---|---|")
    for name, r in seen.items():
        lines.append(
            f"| {name} | {r['d_model']} | {r['mlp_widths']} | {r['params']:,} | "
            f"{r['nonzeros']:,} | {r['compile_s']:.1f} | {r['work_layers_mean']:.1f} |"
        )
    return "\n".join(lines)


def _share(x: float | None, mark: str = "") -> str:
    return "-" if x is None else f"{mark}{x:.2%}"


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog=f"Programs: {', '.join(LIBRARY + PAPER)}",
    )
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="one small program, small batches")
    parser.add_argument("--paper-alta", default=os.environ.get("PAPER_ALTA") or None)
    parser.add_argument("--programs", nargs="*", help="names, or parts of names")
    parser.add_argument("--variants", nargs="*", help="labels, or parts of labels")
    parser.add_argument("--batches", nargs="*", type=int, default=None, help="1 64 1024")
    parser.add_argument("--reps", type=int, default=None, help="timed runs per batch (3)")
    parser.add_argument("--slow", type=float, default=5.0, help="one run this long suffices")
    parser.add_argument("--check", type=int, default=16, help="inputs checked per variant")
    parser.add_argument("--deadline", type=float, default=420.0, help="seconds; then skip")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    args.batches = args.batches or ([1, 8] if args.quick else [1, 64, 1024])
    args.reps = args.reps or (1 if args.quick else 3)
    if args.quick:
        args.check = min(args.check, 4)
    names = ["addition_rules"] if args.quick else list(LIBRARY)
    if args.paper_alta and not args.quick:
        names += PAPER
    if args.programs:
        names = [n for n in LIBRARY + PAPER if any(p in n for p in args.programs)]
    card = card_name(args.device)
    key, peak = card_peaks(card) if args.device == "cuda" else ("", None)
    if peak is None:
        rate = matmul_rate("numpy" if args.device == "cpu" else "torch", args.device)
        key, peak = "measured 1024² float32 matmul", {"fp32": rate}
    deadline = began + args.deadline
    rows: list[dict[str, Any]] = []
    for name in names:
        if name.startswith("paper ") and not args.paper_alta:
            continue
        work = paper(name, Path(args.paper_alta)) if name.startswith("paper ") else library(name)
        rows.extend(run_program(work, args, peak, deadline))
    header = (
        f"# Paper-scale programs on {card} ({time.strftime('%Y-%m-%d')})\n\n"
        f"Peaks: {key}: {json.dumps(peak)}. Shares: achieved FLOP/s ÷ FP32 peak and bytes "
        "moved ÷ peak bandwidth (traffic: weights once per layer, residual, hidden and "
        "q/k/v once per token-layer). `~`: a program without a halt test, whose layers are "
        "the interpreter's mean on the checked inputs.\n"
    )
    text = header + "\n" + sizes(rows) + "\n\n" + table(rows, args.batches) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"gpu-paper-scale-{args.device}" + ("-quick" if args.quick else "")
    report: dict[str, Any] = {"device": card, "peaks": {key: peak}, "batches": args.batches}
    report["rows"] = rows
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    if os.environ.get("OUT"):
        for suffix in (".md", ".json"):
            shutil.copy(args.out / f"{stem}{suffix}", os.environ["OUT"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
