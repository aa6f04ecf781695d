"""`train_mlp`: it learns the parity program's MLP from traces well enough to run the
compiled Transformer on held-out inputs, repeats exactly under a seed, and refuses bad
configurations by field name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from alta.learn import data, metrics, optim, trace_mlp  # noqa: E402
from alta.learn.plugged import PluggedModel  # noqa: E402
from alta.learn.trace_mlp import LearnError, MLPConfig  # noqa: E402

PARITY = "parity_sequential_relative"


def test_loss_decreases(trained_parity: Any) -> None:
    losses = [loss for _, loss in trained_parity.history]
    assert [step for step, _ in trained_parity.history][-1] == 1000
    assert losses[-1] < losses[0] / 20
    assert losses[-1] < 0.01


def test_learned_mlp_fits_the_trace(trained_parity: Any, parity_trace: Any) -> None:
    with torch.no_grad():
        pred = trained_parity.apply(torch.as_tensor(parity_trace.vector_in)).numpy()
    assert pred.dtype == np.float64  # apply keeps the residual's dtype
    assert metrics.vector_accuracy(pred, parity_trace.vector_out) > 0.99
    errors = metrics.decode_errors(parity_trace, pred)
    assert set(errors) == {"parity", "done", "parity_left", "done_left"}
    assert max(errors.values()) < 0.01


def test_plugged_model_solves_held_out_inputs(
    trained_parity: Any, compiled: Any, parity_train: list[Any]
) -> None:
    seen = {ex.tokens for ex in parity_train}
    held_out = [ex for ex in data.inputs(PARITY, range(6, 9), 64, seed=1) if ex.tokens not in seen]
    assert len(held_out) > 100
    plugged = PluggedModel(compiled(PARITY), trained_parity)
    result = metrics.evaluate(plugged, PARITY, held_out, max_layers=20)
    assert result["accuracy"] >= 0.95  # measured: 1.0 for seeds 0-3


def test_apply_is_x_plus_net_or_net(trained_parity: Any) -> None:
    x = torch.randn(3, 5, trained_parity.d_model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        update = trained_parity.net(x)
        assert torch.equal(trained_parity.apply(x), x + update)
        direct = trace_mlp.TrainedMLP(
            trained_parity.net, MLPConfig(residual=False), trained_parity.d_model
        )
        assert torch.equal(direct.apply(x), update)


def _quick(trace: Any, seed: int, **config: Any) -> trace_mlp.TrainedMLP:
    schedule = optim.Schedule(steps=40, warmup_steps=10)
    cfg = MLPConfig(hidden=(32,), batch_size=64, schedule=schedule, noise_std=0.1, **config)
    return trace_mlp.train_mlp(trace, cfg, seed=seed, log_every=10)


def _same_weights(a: trace_mlp.TrainedMLP, b: trace_mlp.TrainedMLP) -> bool:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("optimizer", ["adafactor", "adam"])
def test_same_seed_same_run_other_seed_other_run(parity_trace: Any, optimizer: str) -> None:
    first = _quick(parity_trace, 3, optimizer=optimizer)
    again = _quick(parity_trace, 3, optimizer=optimizer)
    other = _quick(parity_trace, 4, optimizer=optimizer)
    assert _same_weights(first, again) and first.history == again.history
    assert len(first.history) == 4
    assert not _same_weights(first, other) and first.history != other.history


def test_a_list_of_traces_is_their_records(parity_trace: Any) -> None:
    halves = [parity_trace.take(0, 500), parity_trace.take(500, len(parity_trace))]
    assert _same_weights(_quick(halves, 0), _quick(parity_trace, 0))


@pytest.mark.parametrize("activation", ["gelu", "tanh", "sigmoid"])
def test_other_activations_train(parity_trace: Any, activation: str) -> None:
    mlp = _quick(parity_trace, 0, activation=activation)
    assert mlp.history[-1][1] < mlp.history[0][1]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"activation": "swish"}, "activation"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (128, 0)}, "hidden"),
        ({"schedule": optim.Schedule(steps=0)}, "schedule.steps"),
        ({"schedule": optim.Schedule(steps=-5)}, "schedule.steps"),
        ({"schedule": optim.Schedule(lr=0.0)}, "schedule.lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"undefined_noise": (1.0, -1.0)}, "undefined_noise"),
    ],
)
def test_bad_configs_name_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(LearnError, match=f"MLPConfig.{named}"):
        MLPConfig(**fields)


def test_bad_inputs_are_learn_errors(parity_trace: Any) -> None:
    with pytest.raises(LearnError, match="non-empty"):
        trace_mlp.train_mlp([])
    with pytest.raises(LearnError, match="no records"):
        trace_mlp.train_mlp(parity_trace.take(0, 0))
    with pytest.raises(LearnError, match="log_every"):
        trace_mlp.train_mlp(parity_trace, log_every=0)
