"""Composition of every preset, in-process, and the one-line errors for user mistakes."""

from __future__ import annotations

import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lstm_overfit.cli import register_resolvers
from lstm_overfit.config import Config, ConfigError, register_configs, validate
from lstm_overfit.preflight import check_overrides

register_configs()
register_resolvers()


def compose_config(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    obj = OmegaConf.to_object(cfg)
    validate(obj)
    return obj


def preset_overrides() -> list[str]:
    """One override per preset file, so a new preset is tested without touching this file."""
    overrides = []
    for path in sorted(CONF.glob("*/*.yaml")):
        group, name = path.parent.name, path.stem
        added = group in ("reg", "experiment", "sweep")
        overrides.append(f"{'+' if added else ''}{group}={name}")
    return overrides


@pytest.mark.parametrize("override", preset_overrides())
def test_every_preset_composes_and_validates(override: str) -> None:
    assert isinstance(compose_config(override), Config)


def test_default_has_no_regularizer() -> None:
    cfg = compose_config()
    assert cfg.dataset.name == "synthetic"
    assert (cfg.reg.l1, cfg.reg.l2, cfg.reg.dropout, cfg.reg.grad_clip) == (0, 0, 0, 0)
    assert cfg.reg.early_stopping == 0


def test_regularizers_stack_and_take_one_named_strength() -> None:
    cfg = compose_config("+reg=[l2,dropout]", "reg.dropout=0.3")
    assert cfg.reg.l2 == 1e-3 and cfg.reg.dropout == 0.3
    assert compose_config("+reg=l2", "reg.l2=1e-4").reg.l2 == 1e-4


def test_zaremba_sizes() -> None:
    assert compose_config("model=medium").model.hidden_size == 650
    assert compose_config("model=large").model.hidden_size == 1500


def error_for(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        check_overrides(CONF, list(overrides))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_unknown_option_lists_the_valid_ones() -> None:
    message = error_for("+reg=l3")
    assert "unknown reg option 'l3'" in message
    presets = sorted(path.stem for path in (CONF / "reg").glob("*.yaml"))
    assert f"valid options: {', '.join(presets)}" in message


def test_misspelled_key_is_named_with_a_suggestion() -> None:
    message = error_for("reg.dropuot=0.3")
    assert "reg.dropuot" in message and "did you mean 'reg.dropout'" in message


def test_wrong_type_names_the_key() -> None:
    message = error_for("reg.l2=abc")
    assert message.startswith("reg.l2:") and "Float" in message


@pytest.mark.parametrize(
    "override, key",
    [
        ("reg.l2=-1", "reg.l2"),
        ("reg.l1=-1e-3", "reg.l1"),
        ("reg.dropout=1.0", "reg.dropout"),
        ("reg.grad_clip=-1", "reg.grad_clip"),
        ("dataset.label_noise=0.5", "dataset.label_noise"),
        ("model.hidden_size=0", "model.hidden_size"),
        ("train.epochs=0", "train.epochs"),
        ("optim.lr=0", "optim.lr"),
    ],
)
def test_out_of_range_values_are_refused(override: str, key: str) -> None:
    message = error_for(override)
    assert message.startswith(f"{key}=") and "out of range" in message and "try " in message


def test_group_without_plus_says_how_to_add_it() -> None:
    assert "+reg=l2" in error_for("reg=l2")


def test_every_value_of_a_sweep_is_checked() -> None:
    assert "'l9'" in error_for("+reg=l1,l9", "seed=0,1")
    assert "reg.dropout=1.5" in error_for("+reg=dropout", "reg.dropout=0.1,1.5")


def test_unparsable_override_is_named() -> None:
    assert "'reg.l1=[1'" in error_for("reg.l1=[1")


def test_valid_sweep_passes() -> None:
    check_overrides(CONF, ["+reg=l1,l2", "seed=0,1"])
