"""What a user typed wrong, in one line that names the problem and the fix: a character
Hydra's override grammar cannot read, and any failure to compose a config (an unknown
option or key, a wrong type, a preset that does not fit)."""

from __future__ import annotations

import difflib
import re
import shlex
import unicodedata

from lstm_overfit.config import Config, data_schemas

UNQUOTED = set("_-/\\+.$%*@?|,()[]{}:= \t'\"")
TYPOGRAPHIC_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}


def unparsable_character(line: str) -> str | None:
    """The first character Hydra cannot read in an unquoted override, named, with the form
    that works; None where no single character is to blame."""
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


def one_line(text: str) -> str:
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
        return f"{one_line(message.split('.')[0])}{fix}"
    return one_line(message)
