"""Every regularizer a run may use: the built-ins, listed here, and plug-ins.

A plug-in is a Python module outside the package that lists its regularizers in a
module-level `REGULARIZERS` tuple. It is found the way pytest finds its plug-ins:

- an installed distribution's entry point in the group `lstm_overfit.plugins` (its value, a
  module name), or
- `LSTM_OVERFIT_PLUGINS`: a comma-separated list of module names or paths to .py files,
  read by every process of a run or sweep (launchers pass the environment on).

A plug-in that fails to import, lists something that is not a regularizer, or declares a
preset or knob name that another regularizer has is refused with one line naming it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lstm_overfit.config import UsageError
from lstm_overfit.regularizers.ar_tar import ArTar
from lstm_overfit.regularizers.contract import Knob, Regularizer
from lstm_overfit.regularizers.dropout import StandardDropout
from lstm_overfit.regularizers.early_stopping import EarlyStopping
from lstm_overfit.regularizers.embedding_dropout import EmbeddingDropout
from lstm_overfit.regularizers.grad_clip import GradClip
from lstm_overfit.regularizers.l1 import L1
from lstm_overfit.regularizers.l2 import L2
from lstm_overfit.regularizers.locked_dropout import Locked
from lstm_overfit.regularizers.weight_decay import WeightDecay
from lstm_overfit.regularizers.weight_drop import WeightDrop
from lstm_overfit.regularizers.zoneout import Zoneout

# In this order the schema lists their knobs and a batch sums their penalties.
BUILT_IN: tuple[type[Regularizer], ...] = (
    L1,
    L2,
    WeightDecay,
    StandardDropout,
    Locked,
    EmbeddingDropout,
    WeightDrop,
    Zoneout,
    ArTar,
    GradClip,
    EarlyStopping,
)

ENTRY_POINT_GROUP = "lstm_overfit.plugins"
PLUGINS_VARIABLE = "LSTM_OVERFIT_PLUGINS"


class PluginError(UsageError):
    """A plug-in that cannot be used: one line naming it, exit status 2."""


@dataclass(frozen=True)
class Plugin:
    source: str  # as the user named it: a module, a .py path, or an entry point
    module: ModuleType


def _import(spec: str) -> ModuleType:
    """A module by name, or a .py file by path (imported under its file name)."""
    if spec.endswith(".py"):
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file {path}")
        # Named by its path, so two plug-in files of one name stay apart.
        name = f"lstm_overfit_plugin_{path.stem}_{zlib.crc32(str(path).encode()):08x}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(spec)


def _sources() -> list[tuple[str, str]]:
    """(how the user named it, what to import) for each plug-in, entry points first."""
    from importlib.metadata import entry_points

    found = [
        (f"entry point {ep.name} ({ep.value})", ep.value)
        for ep in entry_points(group=ENTRY_POINT_GROUP)
    ]
    listed = os.environ.get(PLUGINS_VARIABLE, "")
    found += [(item, item) for item in (s.strip() for s in listed.split(",")) if item]
    return found


@functools.cache
def plugins() -> tuple[Plugin, ...]:
    loaded = []
    for source, target in _sources():
        try:
            module = _import(target)
        except Exception as err:
            raise PluginError(
                f"plug-in {source} failed to import: {type(err).__name__}: {err}; fix it, or "
                f"remove it from {PLUGINS_VARIABLE} (or uninstall its package)"
            ) from None
        loaded.append(Plugin(source, module))
    return tuple(loaded)


@functools.cache
def _registry() -> tuple[tuple[type[Regularizer], ...], dict[str, str]]:
    """Every regularizer in order, and the plug-in each non-built-in one came from."""
    every, origin = list(BUILT_IN), {}
    for plugin in plugins():
        listed = getattr(plugin.module, "REGULARIZERS", ())
        for item in listed:
            if not (isinstance(item, type) and issubclass(item, Regularizer)):
                raise PluginError(
                    f"plug-in {plugin.source}: REGULARIZERS lists {item!r}, which is not a "
                    "Regularizer subclass (lstm_overfit.regularizers.Regularizer)"
                )
            _check_declaration(item, every, plugin.source)
            every.append(item)
            origin[item.name] = plugin.source
    return tuple(every), origin


def _check_declaration(new: type[Regularizer], known: list[type[Regularizer]], source: str) -> None:
    for attribute in ("name", "knobs", "summary"):
        if not hasattr(new, attribute):
            raise PluginError(
                f"plug-in {source}: {new.__name__} does not declare `{attribute}`; a "
                "regularizer declares name, summary and knobs"
            )
    if not new.knobs or not all(isinstance(k, Knob) for k in new.knobs):
        raise PluginError(
            f"plug-in {source}: {new.__name__}.knobs must be a non-empty tuple of Knob"
        )
    for other in known:
        if other.name == new.name:
            raise PluginError(
                f"plug-in {source}: the regularizer name '{new.name}' is taken by "
                f"{_describe(other)}; rename the plug-in's regularizer"
            )
        shared = {k.name for k in other.knobs if k not in new.knobs} & {k.name for k in new.knobs}
        if shared:
            raise PluginError(
                f"plug-in {source}: knob reg.{sorted(shared)[0]} clashes with "
                f"{_describe(other)}; give the plug-in's knob another name"
            )


def _describe(regularizer: type[Regularizer]) -> str:
    kind = "built-in" if regularizer in BUILT_IN else "plug-in regularizer"
    return f"the {kind} '{regularizer.name}'"


def regularizers() -> tuple[type[Regularizer], ...]:
    """Every regularizer, built-ins first, in the order their hooks are called."""
    return _registry()[0]


def origin(name: str) -> str | None:
    """The plug-in a regularizer came from (None for a built-in)."""
    return _registry()[1].get(name)


def knobs() -> list[Knob]:
    """Every knob once, in the order the regularizers declare them."""
    seen: dict[str, Knob] = {}
    for regularizer in regularizers():
        for knob in regularizer.knobs:
            seen.setdefault(knob.name, knob)
    return list(seen.values())
