"""The pass manager re-checks only the IR2 rules a pass added, yet names every error as a
full `verify_sparse` does (the same message, the same rule index)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import cli_program
import pytest

from alta import passes
from alta.errors import PassError, VerifyError
from alta.ir import sparse
from alta.ir.verify import verify_sparse
from alta.passes import manager


@attrs.frozen
class ReverseAndAddPass(passes.Pass):
    """Reverses the rules (the same objects, new indices) and appends `extra`."""

    name: ClassVar[str] = "test-reverse-and-add"
    level: ClassVar[str] = "sparse"
    extra: tuple[sparse.Rule, ...] = ()

    def run(self, module: sparse.Module) -> sparse.Module:
        return attrs.evolve(module, rules=(*reversed(module.rules), *self.extra))


@attrs.frozen
class ShrinkDomainPass(passes.Pass):
    """Makes `%parity` the constant 0: the rules that read or write its 1 no longer check."""

    name: ClassVar[str] = "test-shrink-domain"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        const = sparse.Init("const", (0,))
        parity = attrs.evolve(module.variables["parity"], values=(0,), init=const)
        return attrs.evolve(module, variables={**module.variables, "parity": parity})


def _run(*extra_passes: passes.Pass) -> list[Any]:
    lower = passes.PassManager.parse("lower-symbolic-to-sparse{merge-copies=true}").passes
    return passes.PassManager([*lower, *extra_passes]).stages(cli_program.build())


def _full_error(module: sparse.Module) -> str:
    with pytest.raises(VerifyError) as info:
        verify_sparse(module)
    return str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        sparse.Rule((sparse.Atom("done", frozenset({7})),), "parity", 0),
        sparse.Rule((), "parity", None),
        sparse.Rule((), "ghost", 0),
        sparse.Rule((), "parity_left", 1),
        sparse.Rule(
            (sparse.Atom("parity", frozenset({0})), sparse.Atom("parity", frozenset({1}))),
            "parity",
            0,
        ),
    ],
)
def test_an_added_bad_rule_gets_the_full_verifiers_error(bad: sparse.Rule) -> None:
    add = ReverseAndAddPass(extra=(bad,))
    with pytest.raises(PassError) as info:
        _run(ReverseAndAddPass(), add)
    lowered = _run()[-1]
    broken = add.run(ReverseAndAddPass().run(lowered))
    expected = _full_error(broken)
    assert str(info.value).endswith(expected)
    assert f"rule #{len(lowered.rules)}" in expected  # its index in the whole module


def test_rules_checked_under_other_variables_are_checked_again() -> None:
    lowered = _run()[-1]
    assert any(r.new == 1 and r.var == "parity" for r in lowered.rules)
    with pytest.raises(PassError) as info:
        _run(ShrinkDomainPass())
    assert str(info.value).endswith(_full_error(ShrinkDomainPass().run(lowered)))


def test_only_rules_a_pass_added_are_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[int] = []

    def counting(module: Any) -> Any:
        checked.append(len(module.rules))
        return verify_sparse(module)

    monkeypatch.setattr(manager, "verify", counting)
    extra = sparse.Rule((sparse.Atom("done", frozenset({0})),), "parity", 0)
    stages = _run(ReverseAndAddPass(), ReverseAndAddPass(extra=(extra,)))
    assert checked == [len(stages[1].rules), 0, 1]
