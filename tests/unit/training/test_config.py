"""Training configuration: YAML over the defaults, command-line overrides over YAML, typed
values, unknown keys refused, and a digest that changes with any value."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.training.config import ConfigError, TrainConfig, load_config, parse_overrides


def test_overrides_win_over_yaml_and_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1.0e-4\ntrain: [a, b]\nepochs: 4\naugment: false\n")
    cfg = load_config(path, parse_overrides(("epochs=7", "val=x:dev,y", "amp=no")), TrainConfig())
    assert (cfg.lr, cfg.epochs, cfg.train, cfg.val) == (1e-4, 7, ("a", "b"), ("x:dev", "y"))
    assert cfg.augment is False and cfg.amp is False


@pytest.mark.parametrize("pairs", [("lrr=1",), ("lr",), ("epochs=many",)])
def test_bad_keys_and_values_are_errors(pairs: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        load_config(None, parse_overrides(pairs), TrainConfig())


def test_the_digest_follows_every_value() -> None:
    assert TrainConfig().digest() == TrainConfig().digest()
    assert TrainConfig().digest() != TrainConfig(seed=1).digest()
