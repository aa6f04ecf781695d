"""An MLP trained on traces to replace a compiled program's MLP (trace supervision).

As in the paper (reference notes §4.2): a plain MLP [d, hidden..., d] regresses each
record's MLP output vector from its input vector under MSE; the dims of variables that are
None at the input get fresh uniform noise every batch (so the MLP learns to ignore them),
optional gaussian noise goes on every input dim, and with `residual` the target is
out − in, computed after the noise, so that `x + net(x)` is the residual update the
compiled Transformer's MLP sublayer makes (and the net learns to denoise).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from alta.errors import LearnError
from alta.learn import optim
from alta.traces.trace import Trace

log = logging.getLogger(__name__)

Activation = Literal["relu", "gelu", "tanh", "sigmoid"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
OPTIMIZERS = ("adam", "adafactor")


def _one_of(choices: Sequence[str]) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise LearnError(
                f"MLPConfig.{attribute.name} must be one of {', '.join(choices)}; got {value!r}"
            )

    return check


def _check_hidden(_: Any, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    if not value or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in value):
        raise LearnError(
            f"MLPConfig.hidden must be a non-empty tuple of positive ints (the hidden widths); "
            f"got {value!r}"
        )


def _check_noise(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if len(value) != 2 or not all(np.isfinite(value)) or value[0] > value[1]:
        raise LearnError(
            f"MLPConfig.undefined_noise must be None or finite (low, high) with low <= high; "
            f"got {value!r}"
        )


def _check_schedule(_: Any, attribute: attrs.Attribute[Any], value: optim.Schedule) -> None:
    if not isinstance(value, optim.Schedule):
        raise LearnError(f"MLPConfig.schedule must be an optim.Schedule; got {value!r}")
    problems = [
        f"schedule.{name} must be {rule}, got {getattr(value, name)!r}"
        for name, ok, rule in (
            ("steps", value.steps > 0, "a positive int"),
            ("lr", value.lr > 0, "positive"),
            ("warmup_steps", value.warmup_steps >= 0, ">= 0"),
            ("decay_factor", value.decay_factor > 0, "positive"),
        )
        if not ok
    ]
    if problems:
        raise LearnError("MLPConfig." + "; ".join(problems))


def _positive(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LearnError(f"MLPConfig.{attribute.name} must be a positive int; got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise LearnError(f"MLPConfig.{attribute.name} must be >= 0; got {value!r}")


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else tuple(float(v) for v in value)  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class MLPConfig:
    """The learned MLP and how to train it; the defaults are the paper's (but for steps)."""

    hidden: tuple[int, ...] = attrs.field(
        default=(128, 128), converter=tuple, validator=_check_hidden
    )
    activation: Activation = attrs.field(default="relu", validator=_one_of(list(ACTIVATIONS)))
    residual: bool = True
    noise_std: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    undefined_noise: tuple[float, float] | None = attrs.field(
        default=(-10.0, 10.0), converter=_pair, validator=_check_noise
    )
    optimizer: optim.Optimizer = attrs.field(default="adafactor", validator=_one_of(OPTIMIZERS))
    schedule: optim.Schedule = attrs.field(factory=optim.Schedule, validator=_check_schedule)
    batch_size: int = attrs.field(default=256, validator=_positive)


def build_net(
    d_model: int, config: MLPConfig, generator: torch.Generator | None = None
) -> nn.Module:
    """[d, hidden..., d] with `config.activation` between layers, the last one linear;
    He-normal weights (the paper's default init) and zero biases, drawn from `generator`."""
    sizes = [d_model, *config.hidden, d_model]
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            nn.init.normal_(linear.weight, 0.0, (2.0 / fan_in) ** 0.5, generator=generator)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[config.activation]())
    return nn.Sequential(*layers)


@attrs.define(eq=False)
class TrainedMLP:
    """A net that maps residuals [*, d_model] to the MLP sublayer's update (`residual`)
    or to its output; `apply` gives the residual stream after the sublayer either way.
    `program` names the program whose traces trained it ('' when unknown)."""

    net: nn.Module
    config: MLPConfig
    d_model: int
    history: list[tuple[int, float]] = attrs.Factory(list)
    program: str = ""

    @property
    def dtype(self) -> torch.dtype:
        for tensor in (*self.net.parameters(), *self.net.buffers()):
            return tensor.dtype
        return torch.float32

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The residual stream after the MLP sublayer, in `x`'s dtype."""
        h = self.net(x.to(self.dtype)).to(x.dtype)
        return x + h if self.config.residual else h

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)


def trace_arrays(traces: Trace | Sequence[Trace]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """vector_in, undefined_in and vector_out of every record of `traces` (one program,
    one layout), without noise."""
    items = [traces] if isinstance(traces, Trace) else list(traces)
    if not items or not all(isinstance(t, Trace) for t in items):
        raise LearnError("train_mlp needs a Trace or a non-empty sequence of Traces")
    head = items[0]
    for t in items[1:]:
        if (t.program, t.d_model, t.layout) != (head.program, head.d_model, head.layout):
            raise LearnError(
                f"traces of '{t.program}' (d_model {t.d_model}) and '{head.program}' "
                f"(d_model {head.d_model}) have different layouts; train on one program"
            )
    x = np.concatenate([t.vector_in for t in items])
    undefined = np.concatenate([t.undefined_in() for t in items])
    y = np.concatenate([t.vector_out for t in items])
    if not len(x):
        raise LearnError(f"the traces of '{head.program}' have no records to train on")
    return x, undefined, y


class _Batches:
    """Record indices in shuffled epochs, drawn from one generator (the paper shuffles;
    a batch may straddle two epochs)."""

    def __init__(self, n: int, size: int, generator: torch.Generator) -> None:
        self.n, self.size, self.gen = n, size, generator
        self.pending = torch.empty(0, dtype=torch.int64)

    def next(self) -> torch.Tensor:
        while len(self.pending) < self.size:
            self.pending = torch.cat([self.pending, torch.randperm(self.n, generator=self.gen)])
        out, self.pending = self.pending[: self.size], self.pending[self.size :]
        return out


def train_mlp(
    traces: Trace | Sequence[Trace],
    config: MLPConfig = MLPConfig(),
    *,
    seed: int = 0,
    log_every: int = 100,
) -> TrainedMLP:
    """Train a net on every record of `traces` for `config.schedule.steps` steps, on the
    CPU in float32. The same seed gives the same weights and history, bit for bit.
    `history` holds (steps done, mean training loss since the previous entry) every
    `log_every` steps and at the end."""
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every <= 0:
        raise LearnError(f"log_every must be a positive int; got {log_every!r}")
    arrays = trace_arrays(traces)
    x, undefined, y = (torch.as_tensor(a) for a in arrays)
    x, y = x.float(), y.float()
    program = (traces if isinstance(traces, Trace) else traces[0]).program
    gen = optim.seed_everything(seed)
    net = build_net(x.shape[1], config, gen)
    opt, sched = optim.make_optimizer(list(net.parameters()), config.optimizer, config.schedule)
    batches = _Batches(len(x), config.batch_size, gen)
    low, high = config.undefined_noise or (0.0, 0.0)
    history: list[tuple[int, float]] = []
    total, count = 0.0, 0
    net.train()
    for step in range(1, config.schedule.steps + 1):
        rows = batches.next()
        xb = x[rows]
        if config.undefined_noise is not None:
            noise = torch.rand(xb.shape, generator=gen) * (high - low) + low
            xb = torch.where(undefined[rows], noise, xb)
        if config.noise_std:
            xb = xb + torch.randn(xb.shape, generator=gen) * config.noise_std
        target = y[rows] - xb if config.residual else y[rows]
        loss = F.mse_loss(net(xb), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, count = total + float(loss.detach()), count + 1
        if step % log_every == 0 or step == config.schedule.steps:
            history.append((step, total / count))
            log.info("train_mlp %s step %d loss %.3g", program, step, total / count)
            total, count = 0.0, 0
    net.eval()
    return TrainedMLP(net, config, int(x.shape[1]), history, program)
