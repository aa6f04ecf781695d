"""Backend throughput: numpy, torch (eager and compiled), jax (jit) and onnxruntime.

Usage:

    alta bench [--quick] [--device cpu|cuda] [--programs ...] [--out DIR]
    python benchmarks/backends.py ...     (the same, writing to benchmarks/results/)

For each library program and backend: sequences/s and tokens*layers/s at several batch
sizes, build time, peak memory, the dense model's FLOPs per token per layer and the
achieved fraction of the device's measured matmul rate. Every backend is first checked
against the interpreter on the same inputs; a backend that disagrees is reported, not
timed. Writes DIR/backends-<device>[-quick].{md,json}; DIR is --out, by default
`bench-results/` in the current directory (so a run never rewrites tracked files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

import alta
from alta import interp, programs
from alta.backends import base
from alta.bench.options import positive, results_folder
from alta.errors import AltaError, UsageError

DEFAULT_OUT = Path("bench-results")
DEFAULT_PROGRAMS = [
    "parity_sequential_relative_rules",
    "parity_sum_mod_2_rules",
    "addition_rules",
    "sort_unique",
    "subleq_rules",
]


def variants(device: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, backend, options) for every installed backend."""
    have = set(base.available())
    out: list[tuple[str, str, dict[str, Any]]] = [("numpy", "numpy", {})] if device == "cpu" else []
    if "torch" in have:
        out += [("torch eager", "torch", {}), ("torch compiled", "torch", {"compile": True})]
    if "jax" in have:
        out.append(("jax jit", "jax", {}))
    if "onnx" in have:
        out.append(("onnxruntime", "onnx", {}))
    return out


def flops_per_token_layer(model: Any, n: int) -> float:
    """Multiply-adds x 2 of one layer for one token at sequence length n."""
    w = model.ir.weights
    total = 0.0
    for head in model.ir.loop.attention.heads:
        dk, dv = w[head.wq].shape[1], w[head.wv].shape[1]
        d = w[head.wq].shape[0]
        total += 2 * d * (2 * dk + dv) + 2 * n * (dk + dv) + 2 * dv * d
    for name in model.ir.loop.mlp.matrix_names():  # each layer's w and its skips
        total += 2 * w[name].size
    return total


def matmul_rate(label: str, device: str) -> float:
    """Measured FLOP/s of a 1024^2 float32 matmul in the backend's framework."""
    n = 1024
    if label.startswith("torch"):
        import torch

        a = torch.randn(n, n, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        (a @ a).sum().item()
        sync()
        start = time.perf_counter()
        for _ in range(10):
            c = a @ a  # not chained: repeated products would drift into denormals
        c.sum().item()
        sync()
        return 10 * 2 * n**3 / (time.perf_counter() - start)
    if label.startswith("jax"):
        import jax
        import jax.numpy as jnp

        y = jnp.ones((n, n), jnp.float32)
        f = jax.jit(lambda x: x @ x / n)
        f(y).block_until_ready()
        start = time.perf_counter()
        for _ in range(10):
            y = f(y)
        y.block_until_ready()
        return 10 * 2 * n**3 / (time.perf_counter() - start)
    m = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(5):
        m @ m
    return 5 * 2 * n**3 / (time.perf_counter() - start)


def bench_one(
    case: Any,
    label: str,
    backend: str,
    options: dict[str, Any],
    device: str,
    batches: list[int],
    reps: int,
) -> dict[str, Any]:
    program = case.build()
    start = time.perf_counter()
    model = alta.compile(
        program,
        backend=backend,
        max_layers=case.max_layers,
        device=None if device == "cpu" else device,
        **options,
    )
    row: dict[str, Any] = {
        "program": case.name,
        "backend": label,
        "build_s": time.perf_counter() - start,
    }
    rng = np.random.default_rng(0)
    check = [list(x) for x in case.generate(rng, 64)]
    want = interp.run(program, check, case.max_layers).outputs
    if model(check) != want:
        row["error"] = "disagrees with the interpreter"
        return row
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for batch in batches:
        inputs = [list(x) for x in case.generate(rng, batch)]
        tokens, lengths = model.pad(inputs)
        model.run(tokens, lengths)  # warm-up (and jit compile)
        times, layers = [], None
        for _ in range(reps):
            t0 = time.perf_counter()
            layers = model.run(tokens, lengths).layers
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        token_layers = float(np.sum(lengths * layers))
        row[f"seq_per_s@{batch}"] = batch / median
        row[f"tok_layers_per_s@{batch}"] = token_layers / median
        row[f"flops_per_s@{batch}"] = (
            token_layers * flops_per_token_layer(model, tokens.shape[1]) / median
        )
    row["peak_rss_mb_growth"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    row["flops_per_token_layer"] = flops_per_token_layer(
        model, int(np.median([len(x) for x in check]))
    )
    return row


def table(rows: list[dict[str, Any]], batches: list[int], rates: dict[str, float]) -> str:
    head = ["program", "backend", "build s"] + [f"seq/s @{b}" for b in batches]
    head += [f"tok·layers/s @{batches[-1]}", "FLOPs/tok/layer", "of matmul rate"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['program']} | {r['backend']} | {r.get('build_s', 0):.2f} | {r['error']} |"
            )
            continue
        big = batches[-1]
        frac = r[f"flops_per_s@{big}"] / rates[r["backend"]]
        cells = [r["program"], r["backend"], f"{r['build_s']:.2f}"]
        cells += [f"{r[f'seq_per_s@{b}']:,.0f}" for b in batches]
        cells += [
            f"{r[f'tok_layers_per_s@{big}']:,.0f}",
            f"{r['flops_per_token_layer']:,.0f}",
            f"{frac:.2%}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "alta bench", out: Path = DEFAULT_OUT) -> int:
    """Run the benchmark; `prog` and `out` let the checkout's script name itself and
    write to benchmarks/results/."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--programs", nargs="*", default=None)
    parser.add_argument("--quick", action="store_true", help="small batches, one repetition")
    parser.add_argument("--batches", nargs="*", type=positive, default=None)
    parser.add_argument("--out", type=Path, default=out, help=f"results folder (default: {out})")
    args = parser.parse_args(argv)
    names = args.programs or DEFAULT_PROGRAMS
    _check_programs(names)
    if args.device == "cuda":
        _check_cuda()
    results_folder(args.out)
    batches = args.batches or (
        [1, 16] if args.quick else [1, 64, 1024] + ([8192] if args.device == "cuda" else [])
    )
    reps = 1 if args.quick else 3
    rows = []
    rates: dict[str, float] = {}
    for label, backend, options in variants(args.device):
        rates[label] = matmul_rate(label, args.device)
        for name in names:
            print(f"  {name} / {label} ...", flush=True)
            try:
                rows.append(
                    bench_one(
                        programs.get(name), label, backend, options, args.device, batches, reps
                    )
                )
            except AltaError as exc:
                rows.append({"program": name, "backend": label, "error": str(exc)[:120]})
    text = table(rows, batches, rates)
    card = _device_name(args.device)
    header = (
        f"# Backend throughput on {card} ({platform.platform()}, {time.strftime('%Y-%m-%d')})\n"
    )
    print(header + "\n" + text)
    suffix = "-quick" if args.quick else ""
    (args.out / f"backends-{args.device}{suffix}.md").write_text(header + "\n" + text + "\n")
    (args.out / f"backends-{args.device}{suffix}.json").write_text(
        json.dumps({"device": card, "matmul_flops_per_s": rates, "rows": rows}, indent=2)
    )
    return 0


def _check_programs(names: list[str]) -> None:
    """Only library programs: a benchmark needs each one's input generator and layers."""
    unknown = [name for name in names if name not in programs.names()]
    if unknown:
        raise UsageError(
            f"--programs: {', '.join(repr(n) for n in unknown)} "
            f"{'is not a library program' if len(unknown) == 1 else 'are not library programs'}"
            " (the benchmark needs a library entry's input generator); library programs: "
            f"{', '.join(programs.names())}"
        )


def _check_cuda() -> None:
    """--device cuda needs torch, which names the GPU and measures its matmul rate."""
    try:
        import torch
    except ImportError:
        raise UsageError("--device cuda needs torch built with CUDA") from None
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: torch finds no CUDA device here; use --device cpu")


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
