"""End-to-end baselines: a Transformer trained from input/output pairs only, no traces.

The answer is supervised where the library's program leaves it, so the learner and the
compiled model are read out alike (`targets`): parity at the last position, addition's
sum digits at the positions from PLUS to the one before END (the carry at PLUS, then one
digit per position, most significant first; `alta.programs.addition.decode`). Everything
else is unsupervised. Runs are seeded and repeat exactly on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
import torch.nn.functional as F

from alta.errors import LearnError
from alta.learn import optim
from alta.learn.data import Example
from alta.learn.transformer import Transformer, TransformerConfig
from alta.programs import addition

log = logging.getLogger(__name__)

#: Label of positions that carry no supervision (torch's cross-entropy default).
IGNORE = -100


@attrs.frozen
class AnswerMap:
    """Where a task family's answer lives and how it becomes classes and back."""

    outputs: int
    positions: Callable[[Sequence[int]], list[int]]
    encode: Callable[[Any, int], list[int]]  # (answer, number of positions) -> classes
    decode: Callable[[list[int]], Any]


def _addition_digits(answer: int, count: int) -> list[int]:
    digits = [int(d) for d in str(answer).zfill(count)]
    if len(digits) != count:
        raise LearnError(f"addition: answer {answer} has more than {count} digits")
    return digits


def _addition_positions(tokens: Sequence[int]) -> list[int]:
    if addition.PLUS not in tokens:
        raise LearnError(f"addition: input {list(tokens)} has no PLUS token")
    return list(range(list(tokens).index(addition.PLUS), len(tokens) - 1))


_PARITY = AnswerMap(
    outputs=2,
    positions=lambda tokens: [len(tokens) - 1] if tokens else [],
    encode=lambda answer, _count: [int(answer)],
    decode=lambda classes: classes[-1] if classes else 0,  # empty input: parity 0
)
_ADDITION = AnswerMap(
    outputs=10,
    positions=_addition_positions,
    encode=_addition_digits,
    decode=addition.digits_value,
)


def answer_map(case_name: str) -> AnswerMap:
    """The answer layout of a library case's task family."""
    if case_name.startswith("parity"):
        return _PARITY
    if case_name.startswith("addition"):
        return _ADDITION
    raise LearnError(
        f"no end-to-end answer layout for program '{case_name}'; the parity and addition "
        "programs have one"
    )


def targets(case_name: str, example: Example) -> tuple[list[int], list[int]]:
    """The supervised positions of `example` and the answer class at each."""
    layout = answer_map(case_name)
    positions = layout.positions(example.tokens)
    return positions, layout.encode(example.answer, len(positions))


#: The baselines' default schedule: Adam's usual rate, 2,000 steps.
SCHEDULE = optim.Schedule(lr=1e-3, warmup_steps=100, steps=2000, decay_factor=0.1)


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Optimiser, schedule, batch size and gradient clipping (None: off) of a run."""

    optimizer: optim.Optimizer = "adam"
    schedule: optim.Schedule = SCHEDULE
    batch_size: int = 64
    clip_norm: float | None = 1.0


def _pad(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([[*r, *[fill] * (width - len(r))] for r in rows], dtype=torch.long)


def _labels(case_name: str, examples: Sequence[Example]) -> torch.Tensor:
    rows = []
    for ex in examples:
        row = [IGNORE] * len(ex.tokens)
        for pos, cls in zip(*targets(case_name, ex), strict=True):
            row[pos] = cls
        rows.append(row)
    return _pad(rows, IGNORE)


@attrs.define
class TrainedTransformer:
    """A trained baseline, its loss history (step, loss), and task-level evaluation."""

    case_name: str
    net: Transformer
    config: TransformerConfig
    history: list[tuple[int, float]]

    def logits(self, tokens: Sequence[Sequence[int]], *, layers: int | None = None) -> torch.Tensor:
        """Per-position logits of a batch, padded to its longest row."""
        lengths = torch.tensor([len(t) for t in tokens])
        self.net.eval()
        with torch.no_grad():
            return self.net(_pad(tokens, 0), lengths, layers=layers)

    def predict(
        self, inputs: Sequence[Example | Sequence[int]], *, layers: int | None = None
    ) -> list[Any]:
        """Task answers (as `Example.answer`) read at the answer positions; `layers`
        runs a Universal Transformer for more (or fewer) applications."""
        layout = answer_map(self.case_name)
        rows = [list(x.tokens if isinstance(x, Example) else x) for x in inputs]
        out: list[Any] = []
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            classes = self.logits([r or [0] for r in chunk], layers=layers).argmax(-1)
            for i, row in enumerate(chunk):
                got = [int(classes[i, p]) for p in layout.positions(row)]
                out.append(layout.decode(got))
        return out

    def accuracy(self, examples: Sequence[Example], *, layers: int | None = None) -> dict[str, Any]:
        """Task accuracy overall and per task length: {"accuracy", "count", "by_length"}."""
        hits: dict[int, list[bool]] = {}
        for ex, got in zip(examples, self.predict(examples, layers=layers), strict=True):
            hits.setdefault(ex.length, []).append(got == ex.answer)
        every = [h for hs in hits.values() for h in hs]
        return {
            "accuracy": sum(every) / len(every) if every else float("nan"),
            "count": len(every),
            "by_length": {n: sum(hs) / len(hs) for n, hs in sorted(hits.items())},
        }


def train_end_to_end(
    case_name: str,
    train: Sequence[Example],
    config: TransformerConfig,
    train_config: TrainConfig = TrainConfig(),
    *,
    seed: int = 0,
    log_every: int = 100,
) -> TrainedTransformer:
    """Train a fresh `Transformer(config)` on the task answers of `train` (cross-entropy
    at the answer positions only); the same seed gives the same history. Empty inputs
    are skipped: their answer is a convention, with no position to read it from."""
    classes = answer_map(case_name).outputs
    if config.outputs < classes:
        raise LearnError(
            f"TransformerConfig.outputs={config.outputs}, but '{case_name}' answers have "
            f"{classes} classes"
        )
    train = [ex for ex in train if ex.tokens]
    if not train:
        raise LearnError("train_end_to_end: the training set has no non-empty input")
    generator = optim.seed_everything(seed)
    net = Transformer(config)
    tokens = _pad([ex.tokens for ex in train], 0)
    lengths = torch.tensor([len(ex.tokens) for ex in train])
    labels = _labels(case_name, train)
    schedule = train_config.schedule
    opt, sched = optim.make_optimizer(list(net.parameters()), train_config.optimizer, schedule)
    history: list[tuple[int, float]] = []
    order = torch.empty(0, dtype=torch.long)
    net.train()
    for step in range(schedule.steps):
        if len(order) < train_config.batch_size:
            order = torch.cat([order, torch.randperm(len(train), generator=generator)])
        batch, order = order[: train_config.batch_size], order[train_config.batch_size :]
        width = int(lengths[batch].max())
        logits = net(tokens[batch, :width], lengths[batch])
        loss = F.cross_entropy(
            logits.reshape(-1, config.outputs), labels[batch, :width].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        if train_config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), train_config.clip_norm)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == schedule.steps - 1:
            history.append((step, loss.item()))
            log.info("%s step %d loss %.4f", case_name, step, history[-1][1])
    net.eval()
    return TrainedTransformer(case_name, net, config, history)
