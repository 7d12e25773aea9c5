"""The moving average of the weights: each floating tensor moves towards the model's by the
warmed-up share, other tensors are copied, and it survives a checkpoint."""

from __future__ import annotations

import torch
from torch import nn

from models.training.ema import WeightAverage


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))


def test_the_average_follows_floats_and_copies_the_rest() -> None:
    model = Tiny()
    average = WeightAverage(model, decay=0.99)
    before = model.linear.weight.detach().clone()
    with torch.no_grad():
        model.linear.weight.add_(1.0)
        model.count.fill_(7)  # type: ignore[operator]
    average.update(model)
    keep = 2 / 11  # first update: (1 + 1) / (10 + 1), under the 0.99 cap
    expected = keep * before + (1 - keep) * (before + 1.0)
    assert torch.allclose(average.module.state_dict()["linear.weight"], expected)
    assert int(average.module.count) == 7  # type: ignore[arg-type]
    assert not any(p.requires_grad for p in average.module.parameters())


def test_the_average_restores_from_its_state() -> None:
    model = Tiny()
    average = WeightAverage(model, decay=0.9)
    for _ in range(3):
        with torch.no_grad():
            model.linear.bias.add_(0.5)
        average.update(model)
    again = WeightAverage(Tiny(), decay=0.9)
    again.load_state_dict(average.state_dict())
    assert again.updates == 3
    bias = again.module.state_dict()["linear.bias"]
    assert torch.equal(bias, average.module.state_dict()["linear.bias"])
