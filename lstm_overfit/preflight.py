"""Everything that can go wrong before training, found before any folder is made.

Each job of the command (every combination of a sweep's values; for a value a sweeper samples
at run time, both ends of its interval) is composed once and validated; the data each
distinct data set needs is loaded (a bad file stops the command, and the processed data is
then cached for the jobs); the device and precision are checked; the output folder is
resolved, checked for writing, and pinned, so Hydra makes exactly that folder. A mistake
stops the command with one line and exit status 2, and nothing is made.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
import re
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lstm_overfit.config import Config, UsageError, data_schemas
from lstm_overfit.dataset_identity import check_same_data
from lstm_overfit.output_folders import (
    check_distinct_jobs,
    check_new_output,
    check_sweep_jobs,
    job_numbering,
)
from lstm_overfit.resume import resume_overrides, resume_sweep_overrides
from lstm_overfit.validation import validate

# Above this many jobs, each sweep value is composed once (with the others at their first
# value) rather than every combination, so a huge grid is not composed job by job.
MAX_COMPOSED_JOBS = 512


def _parse(lines: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for line in lines:
        try:
            parsed += parser.parse_overrides([line])
        except OverrideParseException as err:
            character = unparsable_character(line)
            if character is not None:
                raise UsageError(f"cannot parse the override {line!r}: {character}") from None
            problem = _one_line(str(err)).split(" See ")[0]
            raise UsageError(
                f"cannot parse the override {line!r}: {problem}; write it as KEY=VALUE "
                "and quote values that hold brackets, commas or spaces"
            ) from None
    return parsed


# What Hydra's grammar takes in a value outside quotes, besides ASCII letters and digits.
UNQUOTED = set("_-/\\+.$%*@?|,()[]{}:= \t'\"")
TYPOGRAPHIC_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}


def unparsable_character(line: str) -> str | None:
    """The first character Hydra cannot read in an unquoted override, named, with the form
    that works; None where no single character is to blame."""
    import unicodedata

    key, equals, value = line.partition("=")
    for position, char in enumerate(line):
        if char.isascii() and (char.isalnum() or char in UNQUOTED):
            continue
        if position == 0 and char == "~":  # Hydra's prefix that deletes a key
            continue
        name = f"{char!r} ({unicodedata.name(char, f'U+{ord(char):04X}')})"
        if not equals or position < len(key):
            return (
                f"{name} in the key: keys are plain ASCII names; check the spelling "
                "(`lstm-overfit train --help` lists the keys)"
            )
        if unicodedata.decimal(char, None) is not None:
            digits = "".join(
                str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c
                for c in value
            )
            return f"{name} is not an ASCII digit; write {key}={digits}"
        if char in TYPOGRAPHIC_QUOTES:
            inner = "".join(c for c in value if c not in TYPOGRAPHIC_QUOTES)
            return f"{name} is a typographic quote; use straight ones: {shell_quoted(key, inner)}"
        return (
            f"{name} cannot appear in a value outside quotes; quote the value, and the "
            f"override for the shell: {shell_quoted(key, value)}"
        )
    return None


def shell_quoted(key: str, value: str) -> str:
    """KEY='VALUE' quoted for Hydra, then in double quotes for a POSIX shell (where the value
    holds nothing a shell reads inside double quotes)."""
    if "'" in value or any(c in value for c in '"$`\\!'):
        return shlex.quote(f'{key}="{value}"' if '"' not in value else f"{key}={value}")
    return f"\"{key}='{value}'\""


def _values(override: Any) -> list[str]:
    """The values a sweep override stands for: each value of a discrete sweep, both ends of
    an interval (range checks are bounds, so the ends stand for the whole interval)."""
    key = override.get_key_element()
    if override.is_discrete_sweep():
        return [f"{key}={value}" for value in override.sweep_string_iterator()]
    interval = override.value()
    return [f"{key}={interval.start}", f"{key}={interval.end}"]


def job_overrides(plain: list[str], sweeps: list[list[str]]) -> list[list[str]]:
    """Every combination of the sweeps' values, or past MAX_COMPOSED_JOBS each value once with
    the other sweeps at their first value."""
    combinations = 1
    for values in sweeps:
        combinations *= len(values)
    if combinations <= MAX_COMPOSED_JOBS:
        return [plain + list(combo) for combo in itertools.product(*sweeps)]
    firsts = [values[0] for values in sweeps]
    jobs = [plain + firsts]
    for i, values in enumerate(sweeps):
        jobs += [plain + firsts[:i] + [value] + firsts[i + 1 :] for value in values[1:]]
    return jobs


def compose_jobs(config_dir: Path, overrides: list[str], multirun: bool) -> tuple[list, Path]:
    """(each job's validated Config, the output folder). A sweep's values come from the
    command line and from the config's `hydra.sweeper.params` (ready sweeps); the command
    line wins for a key set in both."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    parsed = _parse(overrides)
    if not multirun:
        check_single_values(parsed)
    check_reg_overrides(parsed)
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = {o.get_key_element(): _values(o) for o in parsed if o.is_sweep_override()}
    firsts = [values[0] for values in sweeps.values()]
    configs = []
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        base = _compose(compose, plain + firsts, hydra=True)
        HydraConfig.instance().set_config(base)  # for ${hydra:...} in the output folders
        output = Path(base.hydra.sweep.dir if multirun else base.hydra.run.dir)
        if multirun:
            params = base.hydra.sweeper.get("params")
            params = OmegaConf.to_container(params) if params is not None else {}
            lines = [f"{key}={value}" for key, value in params.items() if key not in sweeps]
            for override in _parse(lines):
                check_reg_overrides([override])
                sweeps[override.get_key_element()] = _values(override)
        jobs = job_overrides(plain, list(sweeps.values()))
        for job in jobs:
            cfg: Config = OmegaConf.to_object(_compose(compose, job, hydra=False))
            validate(cfg)
            configs.append(cfg)
    check_distinct_jobs(jobs, configs, sweeps)
    if multirun and any(o.startswith("resume=") for o in overrides):
        check_sweep_jobs(output, jobs, configs)
    return configs, output


def check_single_values(parsed: list[Any]) -> None:
    """Several values for a key make a sweep, which needs -m (Hydra's own "Ambiguous value"
    message suggests three readings, two of which do not fit a number)."""
    swept = [shlex.quote(o.input_line) for o in parsed if o.is_sweep_override()]
    if swept:
        raise UsageError(
            f"several values ({' '.join(swept)}) make a sweep, one run per value: add -m "
            f"(lstm-overfit train -m {' '.join(swept)} ...)"
        )


def check_reg_overrides(parsed: list[Any]) -> None:
    """Regularizers are added in one +reg list: Hydra refuses a second +reg with a hint that
    does not apply, and takes a name listed twice as once (a slip that would go unseen)."""
    from hydra.core.override_parser.types import ChoiceSweep

    given = [o for o in parsed if o.key_or_group == "reg" and not o.is_delete()]
    if len(given) > 1:
        values = [o.value() for o in given]
        names = [n for v in values for n in (v if isinstance(v, list) else [v])]
        # Plain names merge into the fix itself; a sweep among them gets an example.
        fix = (
            f": '+reg=[{','.join(dict.fromkeys(names))}]'"
            if all(isinstance(n, str) for n in names)
            else ", such as '+reg=[l2,dropout]'"
        )
        times = "twice" if len(given) == 2 else f"{len(given)} times"
        raise UsageError(
            f"+reg is given {times} ({' '.join(o.input_line for o in given)}); stack "
            f"regularizers in one list{fix}"
        )
    for override in given:
        value = override.value()
        for choice in value.list if isinstance(value, ChoiceSweep) else [value]:
            names = choice if isinstance(choice, list) else [choice]
            twice = sorted({str(n) for n in names if names.count(n) > 1})
            if twice:
                once = ",".join(map(str, dict.fromkeys(names)))
                raise UsageError(
                    f"'{override.input_line}' lists {', '.join(twice)} more than once; list "
                    f"each regularizer once ([{once}])"
                )


def compose_config(config_dir: Path, overrides: list[str]) -> Config:
    """One job's config, for `train --help`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    check_reg_overrides(_parse(overrides))
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return OmegaConf.to_object(_compose(compose, overrides, hydra=False))


GROUPS = ("dataset", "model", "reg", "experiment", "sweep", "hydra/launcher")


def option_groups(config_dir: Path) -> dict[str, list[str]]:
    """The options of each config group this package ships (Hydra's own launchers too, the
    plug-ins' regularizers)."""
    from lstm_overfit.regularizers.schema import presets

    options = {
        group: sorted(p.stem for p in (config_dir / group).glob("*.yaml")) for group in GROUPS
    }
    options["reg"] = sorted({*options["reg"], *presets()})
    options["hydra/launcher"] += ["(and the installed Hydra launchers)"]
    return options


def _compose(compose: Any, overrides: list[str], hydra: bool) -> Any:
    try:
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)
    except Exception as err:  # Hydra and OmegaConf raise several unrelated types
        raise UsageError(describe_compose_error(err)) from None


def check_runtime(configs: list[Config]) -> None:
    """The device, precision, plug-in regularizers (rehearsed once per distinct setting),
    pretrained vectors, data and model size of every job: each distinct data set is loaded
    once (a bad file stops the command here; good data is cached for the jobs, and a single
    run takes the splits loaded here rather than reading them again), and every model its
    jobs build must fit the device's memory."""
    from lstm_overfit.data.load import load_data
    from lstm_overfit.embeddings import check_pretrained
    from lstm_overfit.memory import check_memory
    from lstm_overfit.regularizers.rehearse import rehearse
    from lstm_overfit.runtime import autocast_for, resolve_device

    by_data: dict[str, list[Config]] = {}
    rehearsed = set()
    for cfg in configs:
        autocast_for(cfg.train.precision, resolve_device(cfg.device))
        if (reg := repr(cfg.reg)) not in rehearsed:
            rehearsed.add(reg)
            rehearse(cfg)
        if cfg.model.embedding.pretrained:
            check_pretrained(cfg.model.embedding, cfg.model.embedding_size)
        key = json.dumps(asdict(cfg.dataset), default=str, sort_keys=True)
        by_data.setdefault(key, []).append(cfg)
    for jobs in by_data.values():
        data = load_data(jobs[0].dataset, jobs[0].seed, keep=len(configs) == 1)
        check_memory(jobs, data)


def check_writable(folder: Path) -> None:
    """The nearest existing folder on the way to `folder` accepts a new folder."""
    import tempfile

    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as err:
        raise UsageError(
            f"cannot create the run folder {folder} ({err.strerror or err}); run from a "
            "writable folder or set hydra.run.dir (hydra.sweep.dir for -m) to one"
        ) from None


# Keys whose value is a path: a leading ~ there is the home folder, as a shell would read it.
PATH_KEY = re.compile(r"^(\+{0,2})(resume|[\w.]*(?:path|dir|pretrained))=(['\"]?)(~[^'\"]*)\3$")
PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+@%-]+")


def expand_home(overrides: list[str]) -> list[str]:
    """Each path override that starts with ~ (quoted or not; Hydra reads `~` only inside
    quotes, and would keep it as a folder name), with the home folder written out."""
    expanded = []
    for line in overrides:
        match = PATH_KEY.match(line)
        if match:
            prefix, key, _, path = match.groups()
            home = os.path.expanduser(path)
            if home != path:  # unquoted where Hydra reads it so (resume= is read as text)
                value = home if PLAIN_PATH.fullmatch(home) else shlex.quote(home)
                line = f"{prefix}{key}={value}"
        expanded.append(line)
    return expanded


def plan(config_dir: Path, overrides: list[str], multirun: bool) -> list[str] | None:
    """Check the command's jobs; the overrides Hydra should run (the output folder pinned),
    or None for nothing to do."""
    overrides = expand_home(overrides)
    if any(o.startswith("resume=") for o in overrides):
        if multirun:
            overrides = resume_sweep_overrides(overrides)
        else:
            overrides = resume_overrides(overrides)
            if overrides is None:
                return None
    configs, output = compose_jobs(config_dir, overrides, multirun)
    if not any(o.startswith("resume=") for o in overrides):
        check_new_output(output, multirun)
    elif multirun:  # the jobs it holds keep their folders; new ones get their own
        overrides = [*overrides, *job_numbering(output, len(configs))]
    else:
        check_same_data(output, configs[0].dataset)
    check_writable(output)
    check_runtime(configs)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    pinned = any(o.startswith(f"{key}=") for o in overrides)
    return overrides if pinned else [*overrides, f"{key}={output}"]


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _known_keys(full_key: str) -> list[str]:
    """Every valid key beside a misspelled one, for the did-you-mean hint (for dataset keys,
    those of every kind of data source)."""
    from omegaconf import OmegaConf

    parent = full_key.rpartition(".")[0]
    if parent == "dataset":
        schemas = [OmegaConf.structured(schema) for schema in data_schemas().values()]
        return sorted({f"dataset.{k}" for node in schemas for k in node})
    node = OmegaConf.structured(Config)
    if parent:
        node = OmegaConf.select(node, parent)
    if node is None or not OmegaConf.is_dict(node):
        return []
    return [f"{parent}.{k}" if parent else str(k) for k in node.keys()]


def _group_options(group: str) -> list[str]:
    """A config group's options, as the Hydra being composed with sees them."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    return sorted(o for o in loader.get_group_options(group) if not o.endswith("_schema"))


def _plugin_hint(group: str) -> str:
    from lstm_overfit.regularizers.registry import PLUGINS_VARIABLE

    if group != "reg":
        return ""
    return f" (a plug-in's regularizer is found through {PLUGINS_VARIABLE} or its entry point)"


def describe_compose_error(err: Exception) -> str:
    """One line that names the problem and the fix, for any composition failure."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    cause = err.__cause__ or err
    if isinstance(err, MissingConfigException) and err.options is not None:
        group, _, name = (err.missing_cfg_file or "").rpartition("/")
        options = ", ".join(sorted(o for o in err.options if not o.endswith("_schema")))
        return f"unknown {group} option '{name}'; valid options: {options}{_plugin_hint(group)}"
    if missing := re.match(r"In '\S+': Could not load '(\w+)/(\S+)'", str(err)):
        group, name = missing.groups()  # an option of a list (+reg=[l2,l3])
        options = ", ".join(_group_options(group))
        return f"unknown {group} option '{name}'; valid options: {options}{_plugin_hint(group)}"
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        key = str(cause.full_key)
        known = _known_keys(key)
        if key in known:  # a key of another kind of data set
            group = key.partition(".")[0]
            return (
                f"unknown key '{key}' for this {group}: only other kinds of {group} have it; "
                "drop it (`lstm-overfit train --help` lists the keys)"
            )
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else "; check the spelling"
        return f"unknown key '{key}'{hint} (`lstm-overfit train --help` lists the keys)"
    if isinstance(cause, ValidationError) and cause.full_key:
        problem = str(cause.msg).splitlines()[0]
        return f"{cause.full_key}: {problem}; give a value of the right type"
    message = str(err)
    # A preset that sets a key the chosen data set lacks (Hydra gives no cause to read).
    preset = re.search(r"In '(\S+)': ConfigKeyError.*?full_key: (\S+)", message, re.DOTALL)
    if preset:
        where, key = preset.groups()
        group = key.partition(".")[0]
        return (
            f"{where} sets '{key}', a key the chosen {group} does not have; use the preset "
            f"with a {group} it is made for, or without it"
        )
    if "No match in the defaults list" in message:
        match = re.search(r"use \+(\S+)", message)
        fix = f"; add it with +{match.group(1)}" if match else ""
        return f"{_one_line(message.split('.')[0])}{fix}"
    return _one_line(message)
