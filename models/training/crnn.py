"""CRNN (Shi, Bai, Yao 2015): a VGG-style conv stack whose later poolings are (2, 1) — halving
the height, keeping the width's resolution — then a 2-layer BiLSTM over the width and a linear
layer to blank + charset. The conv stack takes height ``height`` to 1 and width W to W / 8
(the time step of the serving recogniser: 8 input px per output step).

``full`` is the paper's channel plan (64..512, 2x256 LSTM); ``slim`` halves the channels, which
keeps the ONNX file well under 50 MB and trains several times faster on a CPU; ``tiny`` is for
tests.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = {
    "full": (64, 128, 256, 256, 512, 512, 512),
    "slim": (32, 64, 128, 128, 256, 256, 256),
    "lite": (16, 32, 64, 64, 128, 128, 128),  # a quarter of slim's conv work: steps fit a CPU hour
    "tiny": (8, 16, 32, 32, 64, 64, 64),  # for tests: trains in seconds
}
# after conv i: (kernel h, kernel w) of the max-pool, or None; widths pool 2, 2, 2 then keep
POOLS: tuple[tuple[int, int] | None, ...] = ((2, 2), (2, 2), None, (2, 2), None, (2, 1), None)


def _conv(cin: int, cout: int, bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=not bn)]
    return [*layers, nn.BatchNorm2d(cout), nn.ReLU(True)] if bn else [*layers, nn.ReLU(True)]


def conv_stack(channels: tuple[int, ...]) -> nn.Sequential:
    """Seven 3x3 convs, each with BatchNorm (the paper has it from the fifth on; on every
    layer a CRNN leaves the all-blank plateau of CTC far sooner); width / 8, height / 16."""
    layers: list[nn.Module] = []
    cin = 3
    for cout, pool in zip(channels, POOLS, strict=True):
        layers += _conv(cin, cout, bn=True)
        if pool is not None:
            layers.append(nn.MaxPool2d(pool, pool))
        cin = cout
    return nn.Sequential(*layers)


class Crnn(nn.Module):
    """Input (N, 3, height, W) with W a multiple of 8 -> logits (N, W / 8, classes)."""

    def __init__(self, classes: int, height: int = 32, variant: str = "slim", hidden: int = 256):
        super().__init__()
        if height % 16:
            raise ValueError(f"CRNN height must be a multiple of 16, not {height}")
        channels = CHANNELS[variant]
        self.cnn = conv_stack(channels)
        self.collapse = nn.Conv2d(channels[-1], channels[-1], (height // 16, 1))
        self.rnn = nn.LSTM(channels[-1], hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.collapse(self.cnn(x)))  # (N, C, 1, W/8)
        seq = features.squeeze(2).transpose(1, 2)  # (N, W/8, C)
        out, _ = self.rnn(seq)
        logits: torch.Tensor = self.head(out)
        return logits
