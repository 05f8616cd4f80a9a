"""Zoneout (Krueger et al. 2016): each cell and hidden unit keeps its previous value with
some probability at each step; in eval mode, the expectation. The layer's step loop is in
lstm_overfit/zoneout.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstm_overfit.config import UsageError
from lstm_overfit.knobs import ZONEOUT
from lstm_overfit.regularizers.contract import Knob, Regularizer

if TYPE_CHECKING:
    from lstm_overfit.config import Config


class Zoneout(Regularizer):
    name = "zoneout"
    summary = "units keep their previous value"
    # Set the two rates apart with reg.zoneout_cell / reg.zoneout_hidden (Krueger et al.
    # 2016 used 0.5 on cells and 0.05 on hidden units for Penn Treebank).
    knobs = (
        Knob("zoneout", 0.0, "zoneout rate of cells and hidden units", ZONEOUT, 0.3),
        Knob(
            "zoneout_cell", None, "zoneout rate of the cells alone", ZONEOUT, None, "float | None"
        ),
        Knob(
            "zoneout_hidden",
            None,
            "zoneout rate of the hidden units alone",
            ZONEOUT,
            None,
            "float | None",
        ),
    )

    def rates(self) -> tuple[float, float]:
        r = self.reg
        return tuple(
            r.zoneout if own is None else own for own in (r.zoneout_cell, r.zoneout_hidden)
        )

    def check(self, cfg: Config) -> None:
        if cfg.model.bidirectional and any(self.rates()):
            raise UsageError(
                "zoneout and model.bidirectional=true cannot be combined: zoneout runs "
                "unidirectional layers; drop one of them"
            )

    def state_keep(self) -> tuple[float, float] | None:
        return self.rates() if any(self.rates()) else None
