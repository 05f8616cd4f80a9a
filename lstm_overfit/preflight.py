"""Everything that can go wrong before training, found before any folder is made.

Each job of the command (every combination of a sweep's values; for a value a sweeper samples
at run time, both ends of its interval) is composed once and validated; the data each
distinct data set needs is loaded (a bad file stops the command, and the processed data is
then cached for the jobs); the device and precision are checked; the output folder is
resolved, checked for writing, and pinned, so Hydra makes exactly that folder. A mistake
stops the command with one line and exit status 2, and nothing is made.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lstm_overfit.compose_errors import describe_compose_error, one_line, unparsable_character
from lstm_overfit.config import Config, UsageError
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
            problem = one_line(str(err)).split(" See ")[0]
            raise UsageError(
                f"cannot parse the override {line!r}: {problem}; write it as KEY=VALUE "
                "and quote values that hold brackets, commas or spaces"
            ) from None
    return parsed


# What Hydra's grammar takes in a value outside quotes, besides ASCII letters and digits.
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
