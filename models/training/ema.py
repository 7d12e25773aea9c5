"""An exponential moving average of a model's weights, validated and exported instead of the
raw weights when ``ema_decay`` is set: on a small, noisy fine-tuning set the last steps' weights
jump between batches, their average does not.

Every floating tensor of the state dict (parameters and buffers such as BatchNorm statistics)
moves ``1 - decay`` of the way towards the model's after each optimiser step; other tensors
are copied. The first ``1 / (1 - decay)`` steps use a smaller decay (``(1 + n) / (10 + n)``,
capped at ``decay``) so the average does not start out dominated by the base weights.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class WeightAverage:
    """A copy of ``model`` that follows it as an exponential moving average."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for name, avg in self.module.state_dict().items():
            new = current[name].detach()
            if avg.is_floating_point():
                avg.lerp_(new.to(avg.dtype), 1.0 - keep)
            else:
                avg.copy_(new)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
