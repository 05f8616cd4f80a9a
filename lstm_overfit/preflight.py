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
from lstm_overfit.records import FINISHED


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


def check_overrides(config_dir: Path, overrides: list[str], multirun: bool = False) -> None:
    """Compose and validate each job the overrides describe, and check that the output
    folder can be created; raise ConfigError on a mistake."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        for job in _job_override_lists(overrides):
            try:
                cfg = compose(config_name="config", overrides=job, return_hydra_config=True)
            except Exception as err:  # Hydra and OmegaConf raise several unrelated types
                raise ConfigError(describe_compose_error(err)) from None
            HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in the output folders
            output = Path(cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir)
            del cfg.hydra
            obj: Config = OmegaConf.to_object(cfg)
            validate(obj)
    check_writable(output)


def check_writable(folder: Path) -> None:
    """The nearest existing folder on the way to `folder` accepts a new folder."""
    import tempfile

    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as err:
        raise ConfigError(
            f"cannot create the run folder {folder} ({err.strerror or err}); run from a "
            "writable folder or set hydra.run.dir (hydra.sweep.dir for -m) to one"
        ) from None


# Settings that may change when a run continues: they do not touch what it computes (thread
# count can move the last bits of a float sum; the device, more).
RESUME_SETTINGS = ("train.progress=", "train.num_threads=", "device=")


def resume_overrides(overrides: list[str]) -> list[str] | None:
    """`resume=DIR` -> the run's saved overrides, pinned to DIR; None if it already ended."""
    import json

    import yaml

    switch = [o for o in overrides if o.startswith("resume=")]
    settings = [o for o in overrides if o.startswith(RESUME_SETTINGS)]
    others = [o for o in overrides if o not in switch and o not in settings]
    value = switch[-1].partition("=")[2]
    folder = Path(value).expanduser()
    saved = folder / ".hydra" / "overrides.yaml"
    if not folder.is_dir() or not saved.is_file():
        raise ConfigError(
            f"resume={value} is not a run folder (no .hydra/overrides.yaml in it); point it "
            "at a run's folder, such as outputs/runs/<date>/<time>-<id>"
        )
    if others:
        raise ConfigError(
            f"resume continues a run with its saved config; drop the other overrides "
            f"({' '.join(others)}); only {', '.join(s + '...' for s in RESUME_SETTINGS)} may "
            "change"
        )
    summary = folder / "summary.json"
    if summary.is_file():
        status = json.loads(summary.read_text()).get("status")
        if status in FINISHED:
            print(f"lstm-overfit: nothing to resume: the run in {folder} ended ({status})")
            return None
    kept = [o for o in yaml.safe_load(saved.read_text()) or [] if not o.startswith("resume=")]
    where = folder.resolve()
    return [*kept, *settings, f"resume={where}", f"hydra.run.dir={where}"]


def resume_sweep_overrides(overrides: list[str]) -> list[str]:
    """`-m ... resume=SWEEP_DIR`: the same sweep again, into SWEEP_DIR. Its jobs that ended
    are skipped; the others continue from their last checkpoint or start."""
    value = [o for o in overrides if o.startswith("resume=")][-1].partition("=")[2]
    folder = Path(value).expanduser()
    if not (folder / "multirun.yaml").is_file():
        raise ConfigError(
            f"resume={value} is not a sweep folder (no multirun.yaml in it); with -m, point it "
            "at a sweep's folder, such as outputs/sweeps/<date>/<time>-<id>"
        )
    return [f"hydra.sweep.dir={folder.resolve()}"]


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
