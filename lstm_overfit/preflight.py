"""Check command-line overrides before Hydra runs anything, and explain mistakes in one line.

Hydra reports composition errors as multi-line text (or a traceback) with exit status 1.
Here every job of a sweep is composed in-process first, so an unknown option, a misspelled
key, a wrong type or an out-of-range value stops the command with one line and status 2,
before any folder is created.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from lstm_overfit.config import Config, ConfigError, validate


def _job_override_lists(overrides: list[str]) -> list[list[str]]:
    """The plain overrides, plus one variant per value of each discrete sweep.

    Every value of every sweep is composed once, with the other sweeps at their first value:
    that checks each value without composing the whole cartesian product.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for line in overrides:
        try:
            parsed += parser.parse_overrides([line])
        except OverrideParseException as err:
            problem = _one_line(str(err)).split(" See ")[0]
            raise ConfigError(
                f"cannot parse the override {line!r}: {problem}; write it as KEY=VALUE "
                "and quote values that hold brackets, commas or spaces"
            ) from None
    plain, sweeps = [], []
    for override in parsed:
        if not override.is_sweep_override():
            plain.append(override.input_line)
        elif override.is_discrete_sweep():
            key = override.get_key_element()
            sweeps.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        # Continuous sweeps (interval(...)) are sampled by a sweeper and checked per job.
    firsts = [values[0] for values in sweeps]
    variants = [plain + firsts]
    for i, values in enumerate(sweeps):
        for value in values[1:]:
            variants.append(plain + firsts[:i] + [value] + firsts[i + 1 :])
    return variants


def check_overrides(config_dir: Path, overrides: list[str]) -> None:
    """Compose and validate each job the overrides describe; raise ConfigError on a mistake."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        for job in _job_override_lists(overrides):
            try:
                cfg = compose(config_name="config", overrides=job)
            except Exception as err:  # Hydra and OmegaConf raise several unrelated types
                raise ConfigError(describe_compose_error(err)) from None
            obj: Config = OmegaConf.to_object(cfg)
            validate(obj)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _known_keys(full_key: str) -> list[str]:
    """Every valid key beside a misspelled one, for the did-you-mean hint."""
    from omegaconf import OmegaConf

    node = OmegaConf.structured(Config)
    parent = full_key.rpartition(".")[0]
    if parent:
        node = OmegaConf.select(node, parent)
    if node is None or not OmegaConf.is_dict(node):
        return []
    return [f"{parent}.{k}" if parent else str(k) for k in node.keys()]


def describe_compose_error(err: Exception) -> str:
    """One line that names the problem and the fix, for any composition failure."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    cause = err.__cause__ or err
    if isinstance(err, MissingConfigException) and err.options is not None:
        group, _, name = (err.missing_cfg_file or "").rpartition("/")
        options = ", ".join(sorted(err.options))
        return f"unknown {group} option '{name}'; valid options: {options}"
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        key = str(cause.full_key)
        close = difflib.get_close_matches(key, _known_keys(key), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; check the spelling"
        return f"unknown key '{key}'{hint} (`lstm-overfit train --help` lists the keys)"
    if isinstance(cause, ValidationError) and cause.full_key:
        problem = str(cause.msg).splitlines()[0]
        return f"{cause.full_key}: {problem}; give a value of the right type"
    message = str(err)
    if "No match in the defaults list" in message:
        match = re.search(r"use \+(\S+)", message)
        fix = f"; add it with +{match.group(1)}" if match else ""
        return f"{_one_line(message.split('.')[0])}{fix}"
    return _one_line(message)
