"""Data sources and batching. Everything here hands plain tensors to the training loop."""

from lstm_overfit.data.core import Sequences, Stream, TaskData, Windows, load_data

__all__ = ["Sequences", "Stream", "TaskData", "Windows", "load_data"]
