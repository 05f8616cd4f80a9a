"""lstm-overfit: an experiment runner for studying overfitting in LSTMs and its regularizers."""

__version__ = "0.1.0"
