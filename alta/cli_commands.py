"""`alta run`, `alta compile` and `alta export`: a program (or a saved model) from the
command line to outputs, a saved model, or an ONNX file.

PROGRAM is a library name, `module:function`, `path/to/file.py:function` (see
`alta.programs.spec`) or a FILE.alta: a saved model (`alta compile -o`, docs/saved-models.md)
or printed IR2, which is compiled from there. `alta run` interprets a program (the
oracle) unless `--backend` asks for a compiled model; a saved model always runs compiled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from alta import passes
from alta.errors import UsageError
from alta.ir import symbolic
from alta.model import CompiledModel


@attrs.frozen
class Target:
    """What PROGRAM resolved to: a symbolic program, or an already compiled model."""

    spec: str
    program: Any = None  # a symbolic.Program or a sparse.Module (from IR2 text)
    model: CompiledModel | None = None
    max_layers: int | None = None  # the library entry's layer budget, if any


def add_commands(sub: Any) -> None:
    """The `run`, `compile` and `export` subcommands, on the `alta` parser's subparsers."""
    run = sub.add_parser("run", help="run a program or saved model on inputs, print outputs")
    run.set_defaults(command="run", func=run_command)
    _program_argument(run)
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="TOKENS",
        help='one input sequence, e.g. "2 1 0 1"; repeat for a batch',
    )
    run.add_argument(
        "--backend",
        help="compile with this backend and run the model (default: interpret the program; "
        "a saved model runs with numpy)",
    )
    run.add_argument("--trace", action="store_true", help="print every variable after each layer")
    _max_layers(run)

    comp = sub.add_parser("compile", help="compile a program and save the model (FILE.alta)")
    comp.set_defaults(command="compile", func=compile_command)
    _program_argument(comp)
    comp.add_argument("-o", "--output", required=True, metavar="FILE.alta")
    comp.add_argument("--backend", default="numpy", help="build the model with it, as a check")
    comp.add_argument("--pipeline", default="default", metavar="TEXT", help="the pass pipeline")
    comp.add_argument("--strict", action="store_true", help="undefined behaviour is an error")
    _max_layers(comp)

    exp = sub.add_parser("export", help="write a program or saved model as ONNX")
    exp.set_defaults(command="export", func=export_command)
    _program_argument(exp)
    exp.add_argument("-o", "--output", required=True, metavar="FILE.onnx")
    exp.add_argument("--opset", type=int, help="the ONNX opset (default: alta's)")
    exp.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    _max_layers(exp, "the file's default layer budget (needed without a halt test)")


def _program_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "program",
        help="a library program, module:function, path/to/file.py:function or a FILE.alta",
    )


def _max_layers(parser: argparse.ArgumentParser, what: str = "run at most N layers") -> None:
    parser.add_argument("--max-layers", type=int, metavar="N", help=what)


def resolve(spec: str, backend: str = "numpy") -> Target:
    """PROGRAM as a program to interpret or compile, or a model (a saved model file)."""
    from alta.programs.spec import load_program

    if not spec.endswith(".alta"):
        program, layers = load_program(spec)
        return Target(spec, program=program, max_layers=layers)
    import alta
    from alta.ir import sparse

    module = load_ir(spec)
    if isinstance(module, sparse.Module):
        return Target(spec, program=module)
    return Target(spec, model=alta.load(spec, backend=backend))


def compiled(target: Target, backend: str, **options: Any) -> CompiledModel:
    """The target's model: the saved one, or its program compiled with `backend`."""
    if target.model is not None:
        return target.model
    import alta

    pipeline = options.pop("pipeline", "default")
    level = passes.level_of(target.program)
    if pipeline == "default" and level != "symbolic":
        pipeline = default_pipeline(level)
    layers = options.pop("max_layers", None)
    return alta.compile(
        target.program,
        backend=backend,
        pipeline=pipeline,
        max_layers=layers if layers is not None else target.max_layers,
        **options,
    )


def default_pipeline(level: str) -> str:
    """The part of the default pipeline that starts at IR `level` (from its first pass that
    takes that level)."""
    from alta.passes import pipeline

    default = passes.parse(passes.DEFAULT_PIPELINE, "symbolic")
    before = ["symbolic", *pipeline.levels_along(default, "symbolic")]
    start = before.index(level) if level in before[:-1] else len(default)
    return passes.print_pipeline(default[start:])


def is_ir_file(spec: str) -> bool:
    """Whether PROGRAM names a file of printed IR (by its `.alta` suffix)."""
    return spec.endswith(".alta")


def load_ir(spec: str) -> Any:
    """Parse the IR2 or IR3 text in file `spec`; IR3 (a saved model, or plain printed IR3)
    takes its weights from the .safetensors or .npz beside it."""
    from alta.ir import parser

    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"IR file '{spec}' does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read IR file '{spec}': {exc}") from None
    if parser.header_level(text) != "dense":
        return parser.parse(text)
    from alta import saved

    return saved.read(path)[0]


# ---------------------------------------------------------------------------- run


def parse_input(text: str) -> list[int]:
    """`"2 1 0 1"` (or `2,1,0,1`) as tokens; a word that is not an integer is an error."""
    tokens = []
    for word in text.replace(",", " ").split():
        try:
            tokens.append(int(word))
        except ValueError:
            raise UsageError(
                f"--input '{text}': '{word}' is not an integer token (inputs are token ids, "
                'separated by spaces, e.g. --input "2 1 0 1")'
            ) from None
    return tokens


def run_command(ns: argparse.Namespace) -> int:
    if not ns.input:
        raise UsageError('alta run needs at least one --input, e.g. --input "2 1 0 1"')
    batch = [parse_input(text) for text in ns.input]
    target = resolve(ns.program, ns.backend or "numpy")
    if target.model is None and ns.backend is None:
        outputs, layers, trace = _interpret(target, batch, ns.max_layers, ns.trace)
    else:
        model = compiled(target, ns.backend or "numpy")
        outputs, layers, trace = _run_model(model, batch, ns.max_layers, ns.trace)
    for b, (seq, out, n) in enumerate(zip(batch, outputs, layers, strict=True)):
        if ns.trace:
            print(f"# sequence {b}: {_row(seq)}")
            for k, values in enumerate(trace[b], start=1):
                print(f"layer {k}:")
                width = max(map(len, values), default=0)
                for name, row in values.items():
                    print(f"  {name:<{width}}  {_row(row)}")
        print(f"{_row(out)}  ({n} layer{'' if n == 1 else 's'})")
    return 0


Trace = list[list[dict[str, list[Any]]]]  # per sequence, per layer: variable -> values


def _interpret(
    target: Target, batch: list[list[int]], max_layers: int | None, tracing: bool
) -> tuple[list[list[Any]], list[int], Trace]:
    from alta.interp import sparse as sparse_interp
    from alta.interp import state as st
    from alta.interp import symbolic as symbolic_interp
    from alta.interp.loop import LayerRecord

    layers = max_layers if max_layers is not None else target.max_layers
    trace: Trace = [[] for _ in batch]
    program = target.program

    def observe(record: LayerRecord) -> None:
        variables = program.vars
        for row, b in enumerate(record.batch_index.tolist()):
            n = int(record.valid[row].sum())
            trace[b].append(
                {
                    name: [st.decode(variables[name], raw) for raw in record.mlp_out[name][row, :n]]
                    for name in sorted(variables)
                }
            )

    if isinstance(program, symbolic.Program):
        result = symbolic_interp.run(program, batch, layers, observe=observe if tracing else None)
        return result.outputs, result.layers.tolist(), trace
    if tracing:
        raise UsageError("--trace of printed IR2 needs a compiled model: pass --backend numpy")
    run = sparse_interp.run(program, batch, layers)
    return run.outputs, run.layers.tolist(), trace


def _run_model(
    model: CompiledModel, batch: list[list[int]], max_layers: int | None, tracing: bool
) -> tuple[list[list[Any]], list[int], Trace]:
    from alta.ir import dense, sparse

    tokens, lengths = model.pad(batch)
    result = model.run(tokens, lengths, max_layers)
    layers = result.layers.tolist()
    trace: Trace = [[] for _ in batch]
    if tracing and batch:
        x = model.residuals(batch, max(layers))
        for slot in sorted(model.ir.layout, key=lambda s: s.var):
            if slot.width == 0:  # a constant the compiler folded away: no dims to read
                continue
            raw = dense.decode(slot, x)  # [layers + 1, B, N]
            for b, n in enumerate(lengths.tolist()):
                for k in range(layers[b]):
                    if len(trace[b]) <= k:
                        trace[b].append({})
                    trace[b][k][slot.var] = [
                        _raw_value(slot, v, sparse) for v in raw[k + 1, b, :n].tolist()
                    ]
    return model.decode(result.values, lengths), layers, trace


def _raw_value(slot: Any, raw: Any, sparse: Any) -> Any:
    if slot.kind == sparse.NUMERICAL:
        return None if np.isnan(raw) else float(raw)
    if slot.kind == sparse.SET:
        return frozenset(m for m in slot.values if int(raw) >> m & 1)
    return None if raw < 0 else int(raw)


def _row(values: list[Any]) -> str:
    from alta.ir import sparse

    return " ".join(sparse.fmt_value(v) for v in values)


# ------------------------------------------------------------------ compile, export


def compile_command(ns: argparse.Namespace) -> int:
    import time

    from alta import saved

    target = resolve(ns.program, ns.backend)
    if target.model is not None:
        _refuse_compile_options(ns)
    start = time.perf_counter()
    model = compiled(
        target, ns.backend, pipeline=ns.pipeline, max_layers=ns.max_layers, strict=ns.strict
    )
    seconds = time.perf_counter() - start
    weights = saved.save(ns.output, model.ir, model.stats)
    print(f"wrote {ns.output} and {weights}: {model!r}", file=sys.stderr)
    s = model.stats
    sizes = [
        f"{s['rules']:,} rules" if s.get("rules") is not None else None,
        f"d_model {model.ir.d_model}",
        f"mlp {list(model.ir.mlp_widths)}",
        f"{len(model.ir.loop.attention.heads)} heads",
        f"{s['params']:,} params" if s.get("params") is not None else None,
        f"{s['nonzeros']:,} nonzero" if s.get("nonzeros") is not None else None,
    ]
    summary = ", ".join(part for part in sizes if part)
    print(f"compiled '{model.ir.name}' in {seconds:.1f} s: {summary}", file=sys.stderr)
    return 0


def _refuse_compile_options(ns: argparse.Namespace) -> None:
    """A saved model is compiled already: options that only compiling uses are an error,
    never silently dropped."""
    given = [
        flag
        for flag, used in (
            ("--pipeline", ns.pipeline != "default"),
            ("--max-layers", ns.max_layers is not None),
            ("--strict", ns.strict),
        )
        if used
    ]
    if given:
        raise UsageError(
            f"'{ns.program}' is a saved model, compiled already: {', '.join(given)} would "
            "have no effect; compile the program it came from instead"
        )


def export_command(ns: argparse.Namespace) -> int:
    if ns.opset is not None:  # before compiling, which may take long
        from alta.backends import onnx_backend

        onnx_backend.check_opset(ns.opset)
    target = resolve(ns.program)
    model = compiled(target, "numpy", max_layers=ns.max_layers)
    if ns.max_layers is None and model.max_layers is None and model.ir.loop.halt is None:
        raise UsageError(
            f"'{ns.program}' has no halt test: pass --max-layers N to say how many layers "
            "the ONNX model runs by default"
        )
    options: dict[str, Any] = {"dtype": ns.dtype}
    if ns.opset is not None:
        options["opset"] = ns.opset
    model.export_onnx(ns.output, max_layers=ns.max_layers, **options)
    print(f"wrote {ns.output}: {model!r}", file=sys.stderr)
    return 0
