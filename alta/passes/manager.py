"""The pass manager: run a checked pipeline, verify after every pass, name any failure.

    pm = PassManager.parse("lower-symbolic-to-sparse,lower-sparse-to-dense")
    dense_module = pm.run(program)          # or pm.stages(program): input first, then each
    str(pm)                                 # the pipeline text again

Users can hand `PassManager` instances of their own `Pass` subclasses, unregistered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from alta.errors import PassError, PipelineError, VerifyError
from alta.ir import sparse
from alta.passes import base, context, fixpoint, gc_pause, pipeline
from alta.passes.instrument import Instrumentation, as_list

log = logging.getLogger("alta.passes")


def verify(module: Any) -> Any:
    """Run the verifier of `module`'s level; return it, or raise naming what is wrong."""
    level = base.level_of(module)
    if level == "symbolic":
        from alta.ir.verify import verify_symbolic

        return verify_symbolic(module)
    if level == "sparse":
        from alta.ir.verify import verify_sparse

        return verify_sparse(module)
    from alta.ir.verify import verify_dense

    return verify_dense(module)


class _Verifier:
    """`verify`, except that an IR2 module checks only the rules that the last module it
    passed lacked, when the two differ in nothing but their rules.

    A pass that reorders or rewrites a few of thousands of rules keeps the others (the same
    objects, immutable), and each rule's check reads only that rule and the rest of the
    module, never another rule; so rules that passed once pass again. On any error the
    whole module is checked, so the error is the one `verify` names (rule indices and all).
    """

    def __init__(self) -> None:
        self.last: sparse.Module | None = None  # it holds its rules, so their ids stay theirs

    def __call__(self, module: Any) -> Any:
        if not isinstance(module, sparse.Module):
            return verify(module)
        last, self.last = self.last, None
        if last is None or not _same_but_rules(last, module):
            verify(module)
        else:
            passed = set(map(id, last.rules))
            new = tuple([r for r in module.rules if id(r) not in passed])
            try:
                verify(attrs.evolve(module, rules=new))
            except VerifyError:
                verify(module)  # raises the same error, naming the rule by its index
                raise
        self.last = module
        return module


def _same_but_rules(a: sparse.Module, b: sparse.Module) -> bool:
    """Whether `a` and `b` agree in every field but `rules` (variables: the same objects,
    in the same order)."""
    if list(a.variables) != list(b.variables) or any(
        v is not b.variables[k] for k, v in a.variables.items()
    ):
        return False
    return all(
        getattr(a, f.name) == getattr(b, f.name)
        for f in attrs.fields(sparse.Module)
        if f.name not in ("rules", "variables")
    )


class PassManager:
    """An ordered list of passes whose IR levels chain, plus how to run them."""

    def __init__(
        self,
        passes: Sequence[base.Pass],
        *,
        verify_each: bool = True,
        instrumentations: Instrumentation | Iterable[Instrumentation] | None = None,
    ) -> None:
        for p in passes:
            if not isinstance(p, base.Pass):
                raise PipelineError(
                    f"PassManager takes Pass instances, got {type(p).__name__} {p!r}"
                )
        self.passes: tuple[base.Pass, ...] = tuple(passes)
        self.verify_each = verify_each
        self.instrumentations = as_list(instrumentations)
        try:
            pipeline.check_levels(self.passes, None)
        except PipelineError:  # again with the text, which the message quotes
            pipeline.check_levels(self.passes, None, str(self))
            raise

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        start_level: str | None = None,
        verify_each: bool = True,
        instrumentations: Instrumentation | Iterable[Instrumentation] | None = None,
    ) -> PassManager:
        """Parse pipeline text; every error is raised here, before anything runs."""
        passes = pipeline.parse(text, start_level)
        return cls(passes, verify_each=verify_each, instrumentations=instrumentations)

    def __str__(self) -> str:
        return pipeline.print_pipeline(self.passes)

    def __repr__(self) -> str:
        return f"PassManager({str(self)!r}, verify_each={self.verify_each})"

    @property
    def input_level(self) -> str | None:
        return fixpoint.first_level(self.passes[0]) if self.passes else None

    @property
    def output_level(self) -> str | None:
        if not self.passes:
            return None
        return pipeline.levels_along(self.passes, self.input_level)[-1]

    def up_to(self, level: str, start_level: str) -> PassManager:
        """The prefix that ends with the last pass returning `level` (for `--emit`)."""
        if level not in base.LEVELS:
            raise PipelineError(f"unknown IR level '{level}'; choose {', '.join(base.LEVELS)}")
        along = pipeline.levels_along(self.passes, start_level)
        ends = [i for i, after in enumerate(along) if after == level]
        if not ends and level != start_level:
            raise PipelineError(
                f"pipeline '{self}' never produces alta.{level} (input is alta.{start_level})"
            )
        stop = ends[-1] + 1 if ends else 0
        return PassManager(
            self.passes[:stop],
            verify_each=self.verify_each,
            instrumentations=self.instrumentations,
        )

    def with_max_layers(self, max_layers: int) -> PassManager | None:
        """This pipeline with option `max_layers` set on its lowering to IR3, which writes
        the model's layer budget into `loop.max_layers` (the one place it lives); None
        when no pass lowers to IR3 with that option."""
        lowers = [
            i
            for i, p in enumerate(self.passes)
            if p.output_level == "dense"
            and p.input_level != "dense"
            and "max_layers" in attrs.fields_dict(type(p))
        ]
        if not lowers:
            return None
        return PassManager(
            [
                attrs.evolve(p, max_layers=max_layers) if i in lowers else p  # type: ignore[call-arg]
                for i, p in enumerate(self.passes)
            ],
            verify_each=self.verify_each,
            instrumentations=self.instrumentations,
        )

    def run(self, module: Any) -> Any:
        """Run every pass; return the final module."""
        return self.stages(module)[-1]

    def stages(self, module: Any) -> list[Any]:
        """Run every pass; return the input followed by each pass's result."""
        pipeline.check_levels(self.passes, base.level_of(module), str(self))
        stages = [module]
        done: list[str] = []
        check = _Verifier()
        for inst in self.instrumentations:
            inst.run_begin(self, module)
        try:
            with gc_pause.paused():  # passes allocate millions of small, long-lived objects
                for p in self.passes:
                    stages.append(self._run_one(p, stages[-1], done, check))
        finally:
            for inst in self.instrumentations:
                inst.run_end(self, stages[-1])
        return stages

    def _run_one(self, p: base.Pass, module: Any, done: list[str], check: _Verifier) -> Any:
        """Run `p` (every pass of a fixpoint, round by round) and add what ran to `done`."""
        if isinstance(p, fixpoint.Fixpoint):
            return p.iterate(module, lambda q, m: self._run_one(q, m, done, check))
        # The pass records its statistics here; instruments read them in after_pass.
        with context.PassContext(p.name).active():
            result = self._run_in_context(p, module, done, check)
        done.append(p.name)
        return result

    def _run_in_context(self, p: base.Pass, module: Any, done: list[str], check: _Verifier) -> Any:
        for inst in self.instrumentations:
            inst.before_pass(p, module)
        if log.isEnabledFor(logging.DEBUG):  # spec() prints options: not free, per pass
            log.debug("running pass %s", p.spec())
        result = None
        try:
            result = p.run(module)
            self._check_result(p, module, result)
            # Instruments see the result before it is verified, so a dump shows bad IR too.
            for inst in self.instrumentations:
                inst.after_pass(p, module, result)
            if self.verify_each and result is not module:  # an unchanged module was checked
                check(result)
        except Exception as exc:
            for inst in self.instrumentations:
                inst.after_pass_failed(p, module if result is None else result, exc)
            raise PassError(f"pass '{p.name}' failed after [{', '.join(done)}]: {exc}") from exc
        return result

    @staticmethod
    def _check_result(p: base.Pass, module: Any, result: Any) -> None:
        if result is None:
            raise VerifyError(
                "run() returned None; return the module (the same object when nothing changed)"
            )
        level = base.level_of(result)
        polymorphic = len(getattr(type(p), "levels", ())) > 1
        expected = base.level_of(module) if polymorphic else p.output_level
        if level != expected:
            raise VerifyError(f"returned alta.{level} but declares alta.{expected}")
