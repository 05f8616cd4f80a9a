"""Regularizers: the contract (contract.py), one module per built-in, the registry that
also finds plug-ins (registry.py), the schema assembled from their knobs (schema.py) and a
run's active set (active.py). A plug-in imports what it needs from here."""

from lstm_overfit.knobs import COUNT, RATE, STRENGTH, ZONEOUT, Range
from lstm_overfit.regularizers.contract import Knob, PenaltyInputs, Regularizer

__all__ = ["COUNT", "RATE", "STRENGTH", "ZONEOUT", "Knob", "PenaltyInputs", "Range", "Regularizer"]
