"""Backend throughput (the suite lives in `alta.bench`; `alta bench` runs it too).

    python benchmarks/backends.py [--quick] [--device cpu|cuda] [--programs ...]
                                  [--mlp auto|dense|sparse ...]

Writes benchmarks/results/backends-<device>[-quick].{md,json}. `--mlp dense sparse`
runs each torch and jax variant once per MLP mode (backend option `mlp`, labelled
"torch eager mlp=sparse" and so on), to compare dense and sparse MLP weights
(docs/sparse-execution.md); e.g. `--quick --programs subleq_rules --mlp dense sparse`.
"""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alta.bench import backends as bench

Variants = Callable[[str], list[tuple[str, str, dict[str, Any]]]]


def per_mlp_mode(variants: Variants, modes: list[str]) -> Variants:
    """`variants` with each torch and jax entry repeated once per MLP mode."""

    def expanded(device: str) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for label, backend, options in variants(device):
            if backend in ("torch", "jax"):
                out += [(f"{label} mlp={m}", backend, {**options, "mlp": m}) for m in modes]
            else:
                out.append((label, backend, options))
        return out

    return expanded


if __name__ == "__main__":
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--mlp", nargs="+", choices=["auto", "dense", "sparse"], default=None)
    known, rest = extra.parse_known_args()
    if known.mlp:
        bench.variants = per_mlp_mode(bench.variants, known.mlp)  # type: ignore[assignment]
    raise SystemExit(
        bench.main(rest, prog="benchmarks/backends.py", out=Path(__file__).parent / "results")
    )
