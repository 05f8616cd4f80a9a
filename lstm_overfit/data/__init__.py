"""Data sources and batching. Everything here hands plain tensors to the training loop."""

from lstm_overfit.data.core import Split, TaskData, load_data

__all__ = ["Split", "TaskData", "load_data"]
