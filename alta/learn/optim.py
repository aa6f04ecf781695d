"""Optimisers and the learning-rate schedule every training run here shares.

The paper's trainer warms the rate up linearly from 0 over `warmup_steps`, then decays
it exponentially to `lr * decay_factor` at `steps`; Adafactor is its default.
"""

from __future__ import annotations

import math
import random
from typing import Literal

import attrs
import numpy as np
import torch

from alta.errors import LearnError

Optimizer = Literal["adam", "adafactor"]


@attrs.frozen(kw_only=True)
class Schedule:
    """Linear warm-up to `lr`, then exponential decay to `lr * decay_factor` at `steps`."""

    lr: float = 1e-2
    warmup_steps: int = 100
    steps: int = 2000
    decay_factor: float = 0.1

    def rate(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(self.steps - self.warmup_steps, 1)
        done = min((step - self.warmup_steps) / span, 1.0)
        return self.lr * math.exp(done * math.log(self.decay_factor))


def make_optimizer(
    params: list[torch.nn.Parameter], kind: Optimizer, schedule: Schedule
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser and a scheduler whose `step()` follows `schedule` (call it after each
    optimiser step)."""
    if kind == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=schedule.lr)
    elif kind == "adafactor":
        opt = torch.optim.Adafactor(params, lr=schedule.lr)
    else:
        raise LearnError(f"unknown optimizer '{kind}': choose adam or adafactor")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: schedule.rate(step) / schedule.lr)
    return opt, sched


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch, make CPU kernels deterministic, and return a torch
    generator for data order, so a run on the CPU repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)
