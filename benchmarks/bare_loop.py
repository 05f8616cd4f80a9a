"""The reference for the runner's throughput: a bare PyTorch training loop.

Written the way one would by hand: `nn.Embedding`, one multi-layer `nn.LSTM`, dropout, a
linear head, the optimizer, nothing else: no records and no checks. `evaluate` measures a
split's loss in eval mode, as the runner does each epoch for its sample of the training
split and for the validation split. It trains on the same tensors as `lstm-overfit train`
with the same overrides (same data, batch order, sizes, optimizer, learning rate,
clipping). Batches of varying lengths run as the padded tensor on CPU, where a packed
sequence runs about ten times slower (bucketed batches leave little padding, and what it
does to the result is ignored here), and packed on CUDA, as the tutorial does, where cuDNN
runs packed sequences natively.
"""

from __future__ import annotations

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_overfit.cli import config_dir, register_resolvers
from lstm_overfit.config import Config, Task, register_configs
from lstm_overfit.tasks.lm import batchify


def compose_config(overrides: list[str]) -> Config:
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return OmegaConf.to_object(compose(config_name="config", overrides=overrides))


class BareModel(nn.Module):
    def __init__(self, cfg: Config, vocab_size: int, outputs: int, every_step: bool) -> None:
        super().__init__()
        m, p = cfg.model, cfg.reg.dropout
        self.every_step = every_step
        self.embedding = nn.Embedding(vocab_size, m.embedding_size)
        self.lstm = nn.LSTM(
            m.embedding_size,
            m.hidden_size,
            m.num_layers,
            batch_first=True,
            bidirectional=m.bidirectional,
            dropout=p if m.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(p)
        self.head = nn.Linear(m.hidden_size * (2 if m.bidirectional else 1), outputs)

    def forward(self, tokens, state=None, lengths=None):
        x = self.dropout(self.embedding(tokens))
        if self.every_step:  # language model: a prediction at every step, the state carried
            out, state = self.lstm(x, state)
            return self.head(self.dropout(out)), state
        if lengths is not None:
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(x)
        last = torch.cat((h[-2], h[-1]), -1) if self.lstm.bidirectional else h[-1]
        return self.head(self.dropout(last)), None


def classification_batch(split, index: torch.Tensor, device) -> tuple:
    """(tokens, labels, real tokens, lengths to pack by or None) on the device."""
    tokens, lengths, labels = split.batch(index)
    uneven = bool((lengths != tokens.shape[1]).any())
    packed = lengths if device.type == "cuda" and uneven else None
    return tokens.to(device), labels.to(device), int(lengths.sum()), packed


def epoch_batches(cfg: Config, data, task, gen: torch.Generator, device) -> list[tuple]:
    """The epoch's batches as ready tensors on the device, in the runner's order."""
    if data.task == Task.lm:
        rows = task.train_rows.to(device)
        return [task.window(rows, *window) for window in task.epoch_batches(gen)]
    return [classification_batch(data.train, index, device) for index in task.epoch_batches(gen)]


def evaluation_batches(cfg: Config, split, task, lm: bool, device) -> list[tuple]:
    """A split in batches of train.eval_batch_size, in order."""
    size = cfg.train.eval_batch_size
    if lm:
        rows = batchify(split, min(size, max(1, len(split) // 2))).to(device)
        bptt = cfg.dataset.bptt
        columns = rows.shape[1] - 1
        return [task.window(rows, s, min(bptt, columns - s)) for s in range(0, columns, bptt)]
    indices = torch.arange(len(split)).split(size)
    return [classification_batch(split, index, device) for index in indices]


@torch.no_grad()
def evaluate(model, batches, lm: bool) -> float:
    """A split's loss in eval mode, as a hand-written loop measures it after each epoch."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        if lm:
            inputs, targets = batch
            logits, state = model(inputs, state=state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            n = targets.numel()
        else:
            inputs, labels, _, lengths = batch
            logits, _ = model(inputs, lengths=lengths)
            loss = F.binary_cross_entropy_with_logits(logits.squeeze(-1), labels.float())
            n = len(labels)
        total, count = total + loss.item() * n, count + n
    return total / count


def train_step(model, optimizer, batch, cfg: Config, lm: bool, state=None) -> tuple[int, tuple]:
    """One optimizer step; (real tokens, the state to carry to a language model's next)."""
    if lm:
        inputs, targets = batch
        logits, state = model(inputs, state=state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if cfg.train.lm_sum_over_steps:
            loss = loss * targets.shape[1]
        tokens = targets.numel()
    else:
        inputs, labels, tokens, lengths = batch
        logits, _ = model(inputs, lengths=lengths)
        loss = F.binary_cross_entropy_with_logits(logits.squeeze(-1), labels.float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.reg.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.reg.grad_clip)
    optimizer.step()
    return tokens, state


def train_epoch(model, optimizer, batches, cfg: Config, lm: bool) -> int:
    model.train()
    tokens_seen, state = 0, None
    for batch in batches:
        tokens, state = train_step(model, optimizer, batch, cfg, lm, state)
        tokens_seen += tokens
    return tokens_seen


def model_and_optimizer(cfg: Config, data, device) -> tuple[BareModel, torch.optim.Optimizer]:
    """The bare model on `device` and its optimizer, as a hand-written script makes them."""
    lm = data.task == Task.lm
    model = BareModel(cfg, data.vocab_size, data.vocab_size if lm else 1, lm).to(device)
    if cfg.optim.name.value in ("sgd", "nt_asgd"):
        return model, torch.optim.SGD(model.parameters(), lr=cfg.optim.lr)
    return model, torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
