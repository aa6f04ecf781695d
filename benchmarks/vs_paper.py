"""This alta beside the paper's code (google-deepmind/alta), on the paper's own programs.

    python benchmarks/vs_paper.py --alta-src PAPER_CHECKOUT [--quick] [--programs NAME ...]
        [--n 64] [--scan 2] [--backends numpy torch ...] [--time-box S] [--out DIR] [--update]

Both implementations build the same example modules from the checkout (ours through
`import alta.compat.paper`) and run the same seeded inputs. Each runs in its own
subprocess (`--worker paper|alta`), since both answer to the module name `framework`.
Measured per program: sizes, build and compile time, the interpreter's and the compiled
model's ms per sequence (the paper's runner one sequence at a time; ours at batch 1 and
64 per backend), and agreement with plain-Python references written here. Tables give
paper ÷ ours. Writes DIR/vs-paper[-quick].{md,json} (DIR: benchmarks/results); --update
replaces only the rows of the programs run.

The paper's runner has no halting and no fixed-point test, so each input gets exactly the
layers its interpreter needed (counted untimed first): a lower bound on the paper's cost.
Without --alta-src the script says it skipped and exits 0.
"""

from __future__ import annotations

import os

# One BLAS thread, as in the other paper comparisons; this must precede `import numpy`.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import copy
import dataclasses
import gc
import importlib
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BATCH = 64

# One copy of the SUBLEQ and SCAN references and the SCAN grammar, beside this script.
sys.path.insert(0, str(HERE))
from paper_programs import (  # noqa: E402
    scan_command,
    scan_reference,
    subleq_inputs,
    subleq_reference,
)

# --------------------------------------------------------------------------- references


def parity_reference(bits: list[int]) -> int:
    """1 for an odd number of ones."""
    return sum(bits) % 2


def addition_reference(pair: list[int]) -> int:
    return pair[0] + pair[1]


def sort_reference(tokens: list[int]) -> list[int]:
    """sort_unique keeps its BOS token 0 in front of the sorted tokens."""
    return [0, *sorted(tokens)]


REFERENCES: dict[str, Callable[[Any], Any]] = {
    "parity": parity_reference,
    "addition": addition_reference,
    "sort": sort_reference,
    "subleq": subleq_reference,
    "scan": lambda command: scan_reference(command.split()),
}

# --------------------------------------------------------------------------- inputs


def parity_inputs(rng: random.Random, n: int, max_len: int) -> list[list[int]]:
    return [[rng.randint(0, 1) for _ in range(rng.randint(1, max_len))] for _ in range(n)]


def addition_inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(0, 10 ** rng.randint(1, 5) - 1) for _ in "ab"] for _ in range(n)]


def sort_inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [rng.sample(range(1, 16), rng.randint(1, 12)) for _ in range(n)]


def scan_inputs(
    rng: random.Random, n: int, shortest: bool, max_out: int | None = None
) -> list[str]:
    """n distinct random commands, with at most `max_out` actions in their output when
    given; with `shortest`, the n shortest of 200 (a smoke test). The paper's SCAN program
    takes about 20 + 12 x (actions) layers."""
    if shortest:
        return sorted({scan_command(rng) for _ in range(200)}, key=lambda c: (len(c), c))[:n]
    seen: dict[str, None] = {}
    while len(seen) < n:
        command = scan_command(rng)
        if max_out is None or len(scan_reference(command.split())) <= max_out:
            seen[command] = None
    return sorted(seen, key=len)


# --------------------------------------------------------------------------- programs


@dataclasses.dataclass(frozen=True)
class Spec:
    """One example program: where it lives in the checkout and how to feed it."""

    name: str
    module: str  # under `examples.`
    builder: str
    form: str  # "function" or "rules" (the MLP as written in the example)
    task: str  # a key of REFERENCES
    encoding: str  # how raw inputs become token ids (`encode`)
    budget: int | None  # layers for a program without a halt test; None: it halts
    paper_scalar: float = 100.0  # the paper tests' expansion_scalar_1 for this program


#: Budget 0 stands for "the longest parity input plus 4" (sequential parity takes L + 2).
# fmt: off
SPECS = [
    Spec("parity_seq_abs", "parity", "build_sequential_program_absolute", "function",
         "parity", "bits", 0, 1000.0),
    Spec("parity_seq_rel", "parity", "build_sequential_program_relative", "function",
         "parity", "start+bits", 0, 1000.0),
    Spec("parity_sum_mod_2", "parity", "build_sum_mod_2_program_spec", "function",
         "parity", "bits+eos", 2, 1000.0),
    Spec("parity_intermediate", "parity", "build_intermediate_variable_sum_mod_2_program_spec",
         "function", "parity", "bits+eos", 3, 1000.0),
    Spec("parity_sparse_seq_abs", "parity_sparse", "build_sequential_program_absolute",
         "rules", "parity", "bits", 0, 1000.0),
    Spec("parity_sparse_seq_rel", "parity_sparse", "build_sequential_program_relative",
         "rules", "parity", "start+bits", 0, 1000.0),
    Spec("parity_sparse_sum_mod_2", "parity_sparse", "build_sum_mod_2_program_spec", "rules",
         "parity", "bits+eos", 2, 1000.0),
    Spec("addition", "addition", "build_program_spec", "function", "addition", "addition",
         None),
    Spec("addition_sparse", "addition", "build_sparse_program_spec", "rules", "addition",
         "addition", None),
    Spec("sort_unique", "sort_unique", "build_program_spec", "function", "sort", "bos+tokens",
         4),
    Spec("subleq", "subleq", "build_program_spec", "function", "subleq", "subleq", None),
    Spec("subleq_sparse", "subleq", "build_program_spec_sparse", "rules", "subleq", "subleq",
         None),
    Spec("scan_sparse", "scan.scan_sparse_program", "build_program_spec", "rules", "scan",
         "scan", 512),
]
# fmt: on
BY_NAME = {s.name: s for s in SPECS}
#: Minutes each on a small CPU (ours compiles SUBLEQ's function form for half a minute):
#: --quick leaves them out unless --programs names them.
HEAVY = {"subleq", "scan_sparse"}


def budget(spec: Spec, settings: dict[str, Any]) -> int | None:
    return settings["parity_len"] + 4 if spec.budget == 0 else spec.budget


def _example(name: str) -> Any:
    return importlib.import_module(f"examples.{name}")


def encode(spec: Spec, raw: Any) -> list[int]:
    """Token ids, through the example module's own encoder where it has one."""
    how = spec.encoding
    if how == "bits":
        return list(raw)
    if how == "start+bits":
        return [_example("parity").START, *raw]
    if how == "bits+eos":
        return [*raw, _example("parity").EOS_VALUE]
    if how == "bos+tokens":
        return [0, *raw]
    if how == "addition":
        return list(_example("addition").preprocess_input(*raw))
    if how == "subleq":
        return list(_example("subleq").encode_inputs(raw))
    return list(_example("scan.scan_utils").input_string_to_input_ids(raw))


def decode(spec: Spec, outputs: list[Any]) -> Any:
    """The task answer read from per-position outputs, or an error marker."""
    try:
        if spec.task == "parity":
            return _plain(outputs[-1])
        if spec.task == "addition":
            return _plain(_example("addition").process_output(_plain(outputs)))
        if spec.task == "subleq":
            return _plain(_example("subleq").decode_outputs(_plain(outputs)))
        if spec.task == "scan":
            return _example("scan.scan_utils").decode_output(_plain(outputs))
        return _plain(list(outputs))
    except Exception as exc:  # an undecodable output is a wrong answer, not a crash
        return {"error": f"{type(exc).__name__}: {exc}"[:80]}


def _plain(value: Any) -> Any:
    """JSON-ready Python values (numpy scalars and arrays as ints, floats, lists)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def make_inputs(spec: Spec, settings: dict[str, Any]) -> list[Any]:
    """The seeded raw inputs of a program; programs of one task share them."""
    rng = random.Random(f"{settings['seed']}-{spec.task}")
    n = settings["n"]
    if spec.task == "parity":
        return parity_inputs(rng, n, settings["parity_len"])
    if spec.task == "addition":
        return addition_inputs(rng, n)
    if spec.task == "sort":
        return sort_inputs(rng, n)
    if spec.task == "subleq":
        return subleq_inputs(rng, n)
    return scan_inputs(rng, settings["scan"], settings["quick"], settings["scan_max_out"])


# --------------------------------------------------------------------------- workers


def timed(
    groups: list[list[Any]],
    call: Callable[[list[Any]], list[Any]],
    settings: dict[str, Any],
    warm: bool = False,
) -> dict[str, Any]:
    """ms per sequence of `call` over `groups` (each a batch; it returns one output per
    item). A pass stops once it has spent the time box (keeping at least one group); a
    pass shorter than `min_time` is repeated, up to 5 times, and the median pass counts.
    Outputs and the count done are the first pass's. With `warm`, one untimed call on the
    first group comes first: what an interpreter builds once per program (ours, a rule
    program's lookup tables) is not one pass's cost when a pass is all there is."""
    if warm:
        call(groups[0])
    passes: list[float] = []
    outputs: list[Any] = []
    done, spent = 0, 0.0
    while True:
        elapsed, count, got = 0.0, 0, []
        for group in groups:
            if count and elapsed > settings["time_box"]:
                break
            start = time.perf_counter()
            got += call(group)
            elapsed += time.perf_counter() - start
            count += len(group)
        if not passes:
            outputs, done = got, count
        passes.append(elapsed / count)
        spent += elapsed
        if spent >= settings["min_time"] or len(passes) >= 5 or count < sum(map(len, groups)):
            break
    return {
        "ms_per_seq": 1e3 * statistics.median(passes),
        "batch": len(groups[0]),
        "done": done,
        "passes": len(passes),
        "outputs": outputs,
    }


#: A compile faster than this is timed twice, the second on a freshly built program, and
#: the faster kept: the first also pays one-off imports (ours imports each pass when a
#: pipeline first names it). Both are recorded (`compile_first_s`).
WARM_BELOW_S = 5.0


#: A compile faster than this is timed this many more times (each on a freshly built
#: program), as one-off costs and load from other processes weigh most on short runs.
QUICK_BELOW_S, QUICK_ROUNDS = 0.5, 5


def compile_warm(spec: Spec, compile_one: Any, program: Any, out: dict[str, Any]) -> Any:
    """`compile_one(program)`, timed into `out` (see WARM_BELOW_S); the first result.

    Also times building and compiling together (`build_compile_s`, the fastest round):
    the two implementations split the work between them differently (the paper's
    builder turns an MLP function into rules, which our compiler does), so their sum is
    the time from a program's source to its weights."""
    start = time.perf_counter()
    result = compile_one(program)
    out["compile_first_s"] = out["compile_s"] = time.perf_counter() - start
    out["build_compile_s"] = out["build_s"] + out["compile_s"]
    if out["compile_s"] < WARM_BELOW_S:
        builder = getattr(_example(spec.module), spec.builder)
        for _ in range(QUICK_ROUNDS if out["compile_s"] < QUICK_BELOW_S else 1):
            start = time.perf_counter()
            fresh = builder()
            built = time.perf_counter()
            compile_one(fresh)
            end = time.perf_counter()
            out["compile_s"] = min(out["compile_s"], end - built)
            out["build_compile_s"] = min(out["build_compile_s"], end - start)
    return result


def paper_worker(spec: Spec, raws: list[Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The paper's builder, interpreter, compiler and numpy runner, as its tests call them."""
    import numpy as np

    compiler_config = importlib.import_module("framework.compiler.compiler_config")
    compiler_utils = importlib.import_module("framework.compiler.compiler_utils")
    iu = importlib.import_module("framework.interpreter.interpreter_utils")
    pu = importlib.import_module("framework.interpreter.program_utils")
    tu = importlib.import_module("framework.transformer.transformer_utils")
    out: dict[str, Any] = {}
    start = time.perf_counter()
    program = getattr(_example(spec.module), spec.builder)()
    out["build_s"] = time.perf_counter() - start
    ids = [encode(spec, raw) for raw in raws]
    halt = program.halt_spec
    cap = budget(spec, settings) or 2000
    heads = {h.output for h in program.head_specs}

    def needed(tokens: list[int]) -> int:
        """Layers until it halts, or until a layer changes nothing (untimed)."""
        acts = pu.initialize_activations(program, tokens)
        for k in range(1, cap + 1):
            before = None if halt else copy.deepcopy(acts)
            iu.run_layer(program, heads, acts, None, None)
            if halt and all(z[halt.halt_var] == halt.halt_value for z in acts):
                return k
            if not halt and acts == before:
                return max(k - 1, 1)
        return cap

    layers = [needed(x) for x in ids]
    out["layers"] = layers
    singles = [[(x, k)] for x, k in zip(ids, layers, strict=True)]

    def interpret(group: list[tuple[list[int], int]]) -> list[Any]:
        (x, k) = group[0]
        acts = pu.initialize_activations(program, x)
        # It runs max_layers + 1 layers unless halted; 0 would mean "no limit".
        got = iu.run_transformer(program, acts, max_layers=k if halt else max(k - 1, 1))
        return [decode(spec, got)]

    out["interp"] = {"@1": timed(singles, interpret, settings, warm=True)}
    try:
        config = compiler_config.Config(expansion_scalar_1=spec.paper_scalar)
        params = compile_warm(
            spec, lambda p: compiler_utils.compile_transformer(p, config), program, out
        )
    except Exception as exc:  # the paper compiles rule programs only
        out["compile_error"] = _why(exc)
        return out
    ffn = params.feed_forward_layers
    arrays = [params.embeddings.input_embeddings, params.output_transform]
    if params.embeddings.index_embeddings is not None:
        arrays.append(params.embeddings.index_embeddings)
    for h in params.attenion_heads:
        arrays += [h.query_transform, h.key_transform, h.value_transform, h.output_transform]
    for layer in ffn:
        arrays += [layer.weights, layer.biases]
    arrays = [np.asarray(a) for a in arrays]
    out["sizes"] = {
        "rules": int(np.asarray(ffn[2].weights).shape[1]),  # incl. its clearing rules
        "d_model": int(arrays[0].shape[1]),
        "mlp_widths": [int(np.asarray(f.weights).shape[1]) for f in ffn[:-1]],
        "heads": len(params.attenion_heads),
        "params": int(sum(a.size for a in arrays)),
        "nonzeros": int(sum(np.count_nonzero(a) for a in arrays)),
        "dtype": str(arrays[0].dtype),
    }
    tu.run_transformer(params, None, ids[0], max_layers=1)  # first-call costs

    def run(group: list[tuple[list[int], int]]) -> list[Any]:
        (x, k) = group[0]
        return [decode(spec, tu.run_transformer(params, None, x, max_layers=k))]

    out["compiled"] = {"numpy": {"@1": timed(singles, run, settings)}}
    return out


def _why(exc: BaseException) -> str:
    """The exception's type and message, or where it was raised when it has no message."""
    text = str(exc)
    if not text and exc.__traceback__ is not None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        text = f"raised in {Path(frame.filename).name}:{frame.name}"
    return f"{type(exc).__name__}: {text}"[:160]


def alta_worker(spec: Spec, raws: list[Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Ours: the same builder through the shim, `alta.interpret` and `alta.compile`."""
    import alta
    import alta.compat.paper  # (the checkout's `framework` imports resolve to alta)
    from alta.backends import base

    out: dict[str, Any] = {}
    start = time.perf_counter()
    program = getattr(_example(spec.module), spec.builder)()
    out["build_s"] = time.perf_counter() - start
    ids = [encode(spec, raw) for raw in raws]
    limit = budget(spec, settings)
    chunks = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    out["interp"] = {}
    for label, groups in batchings(ids):

        def interpret(group: list[list[int]]) -> list[Any]:
            return [decode(spec, g) for g in alta.interpret(program, group, max_layers=limit)]

        out["interp"][label] = timed(groups, interpret, settings, warm=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", alta.CompileWarning)
        model = compile_warm(spec, lambda p: alta.compile(p, max_layers=limit), program, out)
    out["warnings"] = [str(w.message).split("; ")[0][:160] for w in caught]
    out["sizes"] = {k: model.stats[k] for k in ("rules", "d_model", "mlp_widths", "heads")}
    out["sizes"].update(params=model.stats["params"], nonzeros=model.stats["nonzeros"])
    out["sizes"]["dtype"] = str(next(iter(model.ir.weights.values())).dtype)
    out["compiled"] = {}
    for name in settings["backends"]:
        if name not in base.available():
            out["compiled"][name] = {"error": "not installed"}
            continue
        print(f"    {spec.name}: {name}", file=sys.stderr, flush=True)
        try:
            out["compiled"][name] = _time_backend(
                spec, program, model, name, ids, chunks, limit, settings
            )
        except Exception as exc:  # one failing backend should not hide the others
            out["compiled"][name] = {"error": _why(exc)}
        gc.collect()
    return out


def _time_backend(
    spec: Spec,
    program: Any,
    numpy_model: Any,
    name: str,
    ids: list[list[int]],
    chunks: list[list[list[int]]],
    limit: int | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    import alta

    row: dict[str, Any] = {}
    if name == "numpy":
        model = numpy_model
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", alta.CompileWarning)
            start = time.perf_counter()
            model = alta.compile(program, backend=name, max_layers=limit)
            row["build_s"] = time.perf_counter() - start
    unhalted = limit is not None
    warm = [ids[0]]
    if name == "jax":  # jit compiles once per padded shape: one input per length
        warm = list({len(x): x for x in ids}.values())
    for x in warm:
        model([x], allow_unhalted=unhalted)
    if name == "jax" and len(chunks[0]) > 1:
        model(chunks[0], allow_unhalted=unhalted)
    for label, groups in batchings(ids):

        def run(group: list[list[int]]) -> list[Any]:
            return [decode(spec, g) for g in model(group, allow_unhalted=unhalted)]

        row[label] = timed(groups, run, settings)
    return row


def batchings(ids: list[list[int]]) -> list[tuple[str, list[list[list[int]]]]]:
    """One sequence at a time, then batches of up to BATCH (when there is more than one)."""
    out = [("@1", [[x] for x in ids])]
    if len(ids) > 1:
        out.append(
            (f"@{min(BATCH, len(ids))}", [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)])
        )
    return out


def worker_main(args: argparse.Namespace) -> int:
    """`--worker`: one implementation on one program; JSON to --result."""
    job = json.loads(Path(args.job).read_text())
    spec, settings = BY_NAME[job["program"]], job["settings"]
    sys.path.insert(0, str(Path(args.alta_src).resolve()))
    run = paper_worker if args.worker == "paper" else alta_worker
    try:
        result = run(spec, job["inputs"], settings)
    except Exception as exc:
        result = {"error": _why(exc)}
    Path(args.result).write_text(json.dumps(result, default=str))
    return 0


# --------------------------------------------------------------------------- driver


def run_program(spec: Spec, settings: dict[str, Any], src: Path, timeout: float) -> dict[str, Any]:
    raws = make_inputs(spec, settings)
    want = [REFERENCES[spec.task](r) for r in raws]
    row: dict[str, Any] = {"program": spec.name, "form": spec.form, "n": len(raws)}
    row["budget"] = budget(spec, settings)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"program": spec.name, "settings": settings, "inputs": raws}))
        for impl in ("paper", "alta"):
            print(f"  {spec.name}: {impl} ...", file=sys.stderr, flush=True)
            result = Path(tmp) / f"{impl}.json"
            cmd = [sys.executable, __file__, "--worker", impl, "--alta-src", str(src)]
            cmd += ["--job", str(job), "--result", str(result)]
            start = time.perf_counter()
            try:
                subprocess.run(cmd, check=True, timeout=timeout)
                row[impl] = json.loads(result.read_text())
            except subprocess.TimeoutExpired:
                row[impl] = {"error": f"worker timed out after {timeout:.0f} s"}
            except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                row[impl] = {"error": f"worker failed: {exc}"[:200]}
            row[impl]["wall_s"] = time.perf_counter() - start
    for impl in ("paper", "alta"):
        for runs in [row[impl].get("interp", {}), *row[impl].get("compiled", {}).values()]:
            for timed in runs.values():
                if isinstance(timed, dict) and "outputs" in timed:
                    got = timed.pop("outputs")
                    wrong = [i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w]
                    timed["correct"], timed["wrong"] = len(got) - len(wrong), wrong[:8]
    layers = row["paper"].get("layers")
    if layers:
        row["paper_layers"] = {
            "min": min(layers),
            "median": statistics.median(layers),
            "max": max(layers),
        }
        del row["paper"]["layers"]
    return row


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("numpy", "scipy", "jax", "torch", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        **versions,
    }


def revision(where: Path, path: str = ".") -> str:
    """The checkout's short commit, and whether `path` in it has uncommitted changes."""
    git = ["git", "-C", str(where)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", path], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return "unknown (not a git checkout)"
    return head + (f" with uncommitted changes to {path}" if dirty else "")


def ours_revision() -> str:
    import alta

    return revision(Path(alta.__file__).resolve().parents[1], "alta")


# --------------------------------------------------------------------------- tables


def _ratio(paper: Any, ours: Any) -> str:
    if not isinstance(paper, int | float) or not isinstance(ours, int | float) or not ours:
        return "-"
    return f"{paper / ours:,.1f}×" if paper / ours >= 10 else f"{paper / ours:,.2f}×"


def _num(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _ms(run: dict[str, Any] | None) -> float | None:
    return None if not run or "ms_per_seq" not in run else run["ms_per_seq"]


def _cell(run: dict[str, Any] | None, n: int, paper: float | None = None) -> str:
    ms = _ms(run)
    if ms is None:
        return (run or {}).get("error", "-")[:40] if isinstance(run, dict) else "-"
    text = f"{ms:,.3g}" if ms < 100 else f"{ms:,.0f}"
    if paper is not None:
        text += f" ({_ratio(paper, ms)})"
    return text + ("" if run is None or run["done"] >= n else f" [{run['done']}/{n}]")


def tables(rows: list[dict[str, Any]], backends: list[str]) -> str:
    out = ["## Sizes (paper ÷ ours)\n"]
    head = [
        "program",
        "form",
        "rules paper / ours",
        "MLP hidden widths paper / ours",
        "d_model paper / ours",
        "params paper / ours",
        "×",
        "nonzeros paper / ours",
        "×",
    ]
    out += [_head(head)]
    for r in rows:
        p, o = r["paper"].get("sizes", {}), r["alta"].get("sizes", {})
        cells = [r["program"], r["form"]]
        if not p:
            cells += [
                f"not compiled / {_num(o.get('rules'))}",
                f"- / {_widths(o)}",
                f"- / {_num(o.get('d_model'))}",
                f"- / {_num(o.get('params'))}",
                "-",
                f"- / {_num(o.get('nonzeros'))}",
                "-",
            ]
        else:
            cells += [
                f"{_num(p['rules'])} / {_num(o.get('rules'))}",
                f"{_widths(p)} / {_widths(o)}",
                f"{p['d_model']} / {_num(o.get('d_model'))}",
                f"{_num(p['params'])} / {_num(o.get('params'))}",
                _ratio(p["params"], o.get("params")),
                f"{_num(p['nonzeros'])} / {_num(o.get('nonzeros'))}",
                _ratio(p["nonzeros"], o.get("nonzeros")),
            ]
        out.append(_line(cells))
    failed = [
        (r["program"], r["paper"]["compile_error"]) for r in rows if "compile_error" in r["paper"]
    ]
    if failed:
        out += ["\nThe paper's compiler refused:\n"] + [f"- {p}: {e}" for p, e in failed]
    out += ["\n## Build and compile, seconds (paper ÷ ours)\n"]
    out += [
        f"Compile: the fastest of several compiles of freshly built programs (two when the "
        f"first takes under {WARM_BELOW_S:g} s, {QUICK_ROUNDS + 1} under {QUICK_BELOW_S:g} s), "
        "as the first also pays one-off imports; the first is in brackets. Build + compile: "
        "the fastest of the same rounds, each a fresh build and its compile. The paper's "
        "builder does part of what our compiler does (it turns an MLP function into rules), "
        "so this sum, from a program's source to its weights, is what compares like with "
        "like.\n"
    ]
    out += [
        _head(
            [
                "program",
                "build paper",
                "build ours",
                "×",
                "compile paper",
                "compile ours",
                "×",
                "build + compile paper",
                "ours",
                "×",
            ]
        )
    ]
    for r in rows:
        p, o = r["paper"], r["alta"]
        out.append(
            _line(
                [
                    r["program"],
                    _num(p.get("build_s"), 3),
                    _num(o.get("build_s"), 3),
                    _ratio(p.get("build_s"), o.get("build_s")),
                    _compile_cell(p),
                    _compile_cell(o),
                    _ratio(p.get("compile_s"), o.get("compile_s")),
                    _num(p.get("build_compile_s"), 4),
                    _num(o.get("build_compile_s"), 4),
                    _ratio(p.get("build_compile_s"), o.get("build_compile_s")),
                ]
            )
        )
    out += ["\n## Interpreter, ms per sequence (paper ÷ ours)\n"]
    out += [
        _head(
            [
                "program",
                "n",
                "layers (paper: min / median / max)",
                "paper, one at a time",
                "ours @1",
                "ours batched",
            ]
        )
    ]
    for r in rows:
        p, o, n = r["paper"].get("interp", {}), r["alta"].get("interp", {}), r["n"]
        lay = r.get("paper_layers", {})
        batch = next((v for k, v in o.items() if k != "@1"), None)
        out.append(
            _line(
                [
                    r["program"],
                    n,
                    " / ".join(_num(lay.get(k), 1) for k in ("min", "median", "max")),
                    _cell(p.get("@1"), n),
                    _cell(o.get("@1"), n, _ms(p.get("@1"))),
                    _cell(batch, n, _ms(p.get("@1"))),
                ]
            )
        )
    out += ["\n## Compiled model, ms per sequence (paper ÷ ours)\n"]
    head = ["program", "paper numpy, one at a time"]
    for b in backends:
        head += [f"{b} @1", f"{b} batched"]
    out += [_head(head)]
    for r in rows:
        n, pc = r["n"], r["paper"].get("compiled", {}).get("numpy", {}).get("@1")
        cells = [r["program"], _cell(pc, n) if pc else "not compiled"]
        for b in backends:
            run = r["alta"].get("compiled", {}).get(b, {})
            if "error" in run:
                cells += [run["error"][:40], "-"]
                continue
            batch = next((v for k, v in run.items() if k.startswith("@") and k != "@1"), None)
            cells += [_cell(run.get("@1"), n, _ms(pc)), _cell(batch, n, _ms(pc))]
        out.append(_line(cells))
    out += ["\n## Agreement with the plain-Python reference (correct / run)\n"]
    out += [
        _head(
            ["program", "n", "paper interpreter", "paper compiled", "ours interpreter", *backends]
        )
    ]
    for r in rows:
        p, o = r["paper"], r["alta"]
        cells = [
            r["program"],
            r["n"],
            _agree(p.get("interp", {})),
            _agree(p.get("compiled", {}).get("numpy", {})),
            _agree(o.get("interp", {})),
        ]
        cells += [_agree(o.get("compiled", {}).get(b, {})) for b in backends]
        out.append(_line(cells))
    errors = [
        (r["program"], i, r[i]["error"]) for r in rows for i in ("paper", "alta") if "error" in r[i]
    ]
    if errors:
        out += ["\nErrors:\n"] + [f"- {p} ({i}): {e}" for p, i, e in errors]
    return "\n".join(out)


def _widths(sizes: dict[str, Any]) -> str:
    widths = sizes.get("mlp_widths")
    return "-" if widths is None else "·".join(f"{w:,}" for w in widths)


def _agree(runs: dict[str, Any]) -> str:
    """`correct/run` per batch size; one figure when every batch size agrees."""
    if "error" in runs:
        return str(runs["error"])[:40]
    got = [(v["correct"], v["done"]) for v in runs.values() if isinstance(v, dict) and "done" in v]
    if not got:
        return "-"
    cells = sorted({f"{c}/{d}" for c, d in got})
    return ", ".join(cells)


def _compile_cell(side: dict[str, Any]) -> str:
    if "compile_s" not in side:
        return "-"
    first = side.get("compile_first_s", side["compile_s"])
    extra = f" ({_num(first, 3)})" if first != side["compile_s"] else ""
    return _num(side["compile_s"], 3) + extra


def _head(cells: list[str]) -> str:
    return _line(cells) + "\n|" + "---|" * len(cells)


def _line(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Programs: " + ", ".join(s.name for s in SPECS),
    )
    parser.add_argument("--alta-src", help="a checkout of google-deepmind/alta")
    parser.add_argument("--programs", nargs="*", help="names, or parts of names, to run")
    parser.add_argument("--n", type=int, default=None, help=f"inputs per program ({BATCH})")
    parser.add_argument("--scan", type=int, default=None, help="SCAN commands (2)")
    parser.add_argument(
        "--scan-max-out", type=int, default=6, help="most actions in a SCAN command's output"
    )
    parser.add_argument("--parity-len", type=int, default=16, help="longest parity input")
    parser.add_argument("--backends", nargs="*", default=None, help="ours (all installed)")
    parser.add_argument(
        "--time-box",
        type=float,
        default=None,
        help="seconds per timed loop; later inputs are dropped (120)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="8 inputs; no subleq (function) or scan_sparse unless named",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--update", action="store_true", help="replace only these programs' rows in the results"
    )
    parser.add_argument("--worker", choices=["paper", "alta"], help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.alta_src:
        print("vs_paper: skipped (pass --alta-src PATH, a checkout of google-deepmind/alta)")
        return 0
    if args.worker:
        return worker_main(args)
    src = Path(args.alta_src).resolve()
    if not (src / "framework").is_dir() or not (src / "examples").is_dir():
        parser.error(f"--alta-src {src}: no framework/ and examples/ there")
    if args.backends is None:
        from alta.backends import base

        args.backends = base.available()
    settings = {
        "n": args.n or (8 if args.quick else BATCH),
        "scan": args.scan or (1 if args.quick else 2),
        "scan_max_out": args.scan_max_out,
        "parity_len": args.parity_len,
        "backends": args.backends,
        "time_box": args.time_box or (30.0 if args.quick else 120.0),
        "min_time": 0.5,
        "seed": args.seed,
        "quick": args.quick,
        "warm_interpreters": True,  # one untimed interpreter call before timing
    }
    if args.programs:
        chosen = [s for s in SPECS if any(p in s.name for p in args.programs)]
    else:
        chosen = [s for s in SPECS if not (args.quick and s.name in HEAVY)]
    rows = []
    for spec in chosen:
        print(f"{spec.name} ...", file=sys.stderr, flush=True)
        rows.append(run_program(spec, settings, src, args.timeout))
    given = list(argv if argv is not None else sys.argv[1:])
    run: dict[str, Any] = {
        "command": "python benchmarks/vs_paper.py "
        + " ".join("PAPER_CHECKOUT" if a == args.alta_src else a for a in given),
        "date": time.strftime("%Y-%m-%d"),
        "paper_revision": revision(src),
        "ours_revision": ours_revision(),
        "machine": machine(),
        "settings": settings,
    }
    stem = "vs-paper-quick" if args.quick else "vs-paper"
    path = args.out / f"{stem}.json"
    runs: list[dict[str, Any]] = [run]
    kept: list[dict[str, Any]] = []
    if args.update and path.exists():
        old = json.loads(path.read_text())
        fresh = {r["program"] for r in rows}
        kept = [r for r in old["rows"] if r["program"] not in fresh]
        used = sorted({r["run"] for r in kept})
        runs = [old["runs"][i] for i in used] + [run]
        for r in kept:
            r["run"] = used.index(r["run"])
    for r in rows:
        r["run"] = len(runs) - 1
    order = {s.name: i for i, s in enumerate(SPECS)}
    rows = sorted(kept + rows, key=lambda r: order[r["program"]])
    backends = list(dict.fromkeys(b for r in runs for b in r["settings"]["backends"]))
    text = header(runs, rows) + "\n" + tables(rows, backends)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text + "\n")
    path.write_text(json.dumps({"runs": runs, "rows": rows}, indent=1, default=str) + "\n")
    return 0


def header(runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    lines = [f"# This alta beside the paper's code ({runs[-1]['date']})\n"]
    for i, run in enumerate(runs):
        m = run["machine"]
        names = ", ".join(r["program"] for r in rows if r["run"] == i)
        lines.append(
            f"- `{run['command']}` ({run['date']}): {names}. Paper code: google-deepmind/alta "
            f"{run['paper_revision']}; ours: {run['ours_revision']}. Machine: {m['processor']}, "
            f"{m['cpus']} cores, BLAS threads {m['blas_threads']}. Settings: "
            f"{json.dumps(run['settings'])}."
        )
    lines.append(
        "\nRatios are paper ÷ ours (above 1: ours is smaller or faster). The paper's runner "
        "gets each input's exact layer count (it has no halting); ours stops by itself. "
        "`[k/n]`: a time box stopped the loop after k inputs. *Batched*: batches of up to "
        f"{BATCH} (one batch of all n inputs when n ≤ {BATCH}). In runs whose settings "
        "say `warm_interpreters`, both interpreters run one untimed call first; in earlier "
        "runs the first pass of ours also built its rule tables.\n"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
