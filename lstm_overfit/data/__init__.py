"""Data sources and batching. Everything here hands plain tensors to the training loop."""
