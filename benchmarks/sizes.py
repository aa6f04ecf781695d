"""Model sizes before and after the default pipeline, beside the paper code's compiler.

Usage (from the repository root):

    python benchmarks/sizes.py [--programs NAME ...]

For every library program: rules, d_model, MLP hidden widths, parameters and nonzeros,
compiled with only the two lowerings ("base") and with the default pipeline ("opt").
The paper columns are the sizes its compiler produced for the comparable program
(reference/alta-measured.md and alta-reference.md §5.1); its rule count includes the
clearing rules, so it equals its MLP's rule-layer width. Writes a markdown table to
benchmarks/results/sizes.md and JSON to benchmarks/results/sizes.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import alta
from alta import passes, programs

RESULTS = Path(__file__).resolve().parent / "results"
BASE_PIPELINE = "lower-symbolic-to-sparse,lower-sparse-to-dense"

#: The paper code's sizes: (its program, rules incl. clearing, d_model, params, nonzeros).
PAPER: dict[str, tuple[str, int, int, int | None, int | None]] = {
    "parity_sequential_absolute": (
        "parity_seq_abs enumerated, L=50",
        15_004,
        108,
        3_279_520 + 22_464,
        120_224,
    ),
    "parity_sequential_absolute_rules": (
        "parity_sparse_seq_abs, L=50",
        7,
        108,
        25_171 + 22_464,
        240,
    ),
    "parity_sequential_relative": ("parity_seq_rel enumerated", 10, 9, 532, 97),
    "parity_sequential_relative_rules": ("parity_sparse_seq_rel", 7, 9, 475, 68),
    "parity_sum_mod_2": ("parity_sum_mod_2 enumerated, L=50", 450, 8, 34_102 + 48, 3_064),
    "parity_sum_mod_2_rules": ("parity_sparse_sum_mod_2, L=100", 200, 8, 36_152 + 48, 914),
    "parity_intermediate": (
        "intermediate sum_mod_2, L=10 (L=50 not generated)",
        5_130,
        22,
        284_206,
        51_340,
    ),
    "addition": ("addition_sparse", 16_466, 91, 3_041_852, 144_386),
    "addition_rules": ("addition_sparse", 16_466, 91, 3_041_852, 144_386),
    "subleq": ("subleq_sparse", 43_127, 402, 35_339_933, 332_304),
    "subleq_rules": ("subleq_sparse", 43_127, 402, 35_339_933, 332_304),
    "sort_unique": ("not compilable in the paper's code", 0, 100, None, None),
}
SCAN_PAPER = ("scan_sparse (paper only; not in our library)", 70_792, 2_014, 300_054_078, 551_773)


def _intermediate_l10() -> Any:
    from alta.programs import parity_sum

    return parity_sum.build_intermediate(10)


#: Programs built at the paper measurement's size, for a like-for-like row.
EXTRA = {"parity_intermediate (L=10)": (_intermediate_l10, None)}
PAPER["parity_intermediate (L=10)"] = ("intermediate sum_mod_2, L=10", 5_130, 22, 284_206, 51_340)


def measure(name: str) -> dict[str, Any]:
    if name in EXTRA:
        build, max_layers = EXTRA[name]
        program = build()
    else:
        case = programs.get(name)
        program, max_layers = case.build(), case.max_layers
    row: dict[str, Any] = {"program": name}
    for label, pipeline in (("base", BASE_PIPELINE), ("opt", passes.DEFAULT_PIPELINE)):
        start = time.perf_counter()
        model = alta.compile(program, pipeline=pipeline, max_layers=max_layers)
        row[label] = {
            **model.stats,
            "compile_s": round(time.perf_counter() - start, 3),
            "hidden_units": sum(model.stats["mlp_widths"]),
        }
    paper = PAPER.get(name)
    if paper:
        row["paper"] = dict(
            zip(("program", "rules", "d_model", "params", "nonzeros"), paper, strict=True)
        )
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "program",
        "rules base→opt",
        "paper rules",
        "d_model base→opt",
        "paper d_model",
        "MLP widths opt",
        "params opt",
        "paper params",
        "nonzeros opt",
        "paper nonzeros",
        "compile s (opt)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        b, o, p = r["base"], r["opt"], r.get("paper", {})
        lines.append(
            "| "
            + " | ".join(
                str(c)
                for c in [
                    r["program"],
                    f"{b['rules']} → {o['rules']}",
                    p.get("rules", "-"),
                    f"{b['d_model']} → {o['d_model']}",
                    p.get("d_model", "-"),
                    o["mlp_widths"],
                    f"{o['params']:,}",
                    _num(p.get("params")),
                    f"{o['nonzeros']:,}",
                    _num(p.get("nonzeros")),
                    o["compile_s"],
                ]
            )
            + " |"
        )
    p = SCAN_PAPER
    lines.append(f"| {p[0]} | - | {p[1]:,} | - | {p[2]:,} | - | - | {p[3]:,} | - | {p[4]:,} | - |")
    return "\n".join(lines)


def _num(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--programs", nargs="*", default=None)
    args = parser.parse_args()
    rows = [measure(n) for n in (args.programs or [*programs.names(), *EXTRA])]
    text = table(rows)
    print(f"default pipeline: {passes.DEFAULT_PIPELINE}\n")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sizes.md").write_text(
        f"# Model sizes ({platform.node() or 'machine'}, {time.strftime('%Y-%m-%d')})\n\n"
        f"Default pipeline: `{passes.DEFAULT_PIPELINE}`\n\n{text}\n"
    )
    meta = {"machine": platform.platform(), "pipeline": passes.DEFAULT_PIPELINE}
    (RESULTS / "sizes.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2, default=str)
    )


if __name__ == "__main__":
    main()
