"""The synthetic data set follows its rule, flips the configured share of labels, is seeded."""

from __future__ import annotations

import math

import torch

from lstm_overfit.config import SyntheticData as DataConfig
from lstm_overfit.data.load import load_data
from lstm_overfit.data.splits import Sequences
from lstm_overfit.data.synthetic import _motif_starts, bayes_loss


def matrix(split: Sequences) -> torch.Tensor:
    return split.batch(torch.arange(len(split)))[0]


def test_labels_follow_the_motif_rule_up_to_the_noise_rate() -> None:
    cfg = DataConfig(num_train=4000, num_val=10, num_test=10, label_noise=0.2)
    data = load_data(cfg, seed=3)
    gen = torch.Generator().manual_seed(3)
    motif = torch.randint(1, cfg.vocab_size, (cfg.motif_length,), generator=gen)
    has_motif = _motif_starts(matrix(data.train), motif).any(dim=1).long()
    flipped = has_motif != data.train.labels
    assert torch.equal(flipped, data.train.flipped)  # the kept mask is exactly the flips
    assert abs(flipped.float().mean().item() - 0.2) < 0.03
    assert abs(has_motif.float().mean().item() - 0.5) < 0.03


def test_no_noise_means_labels_are_the_rule() -> None:
    cfg = DataConfig(num_train=500, num_val=10, num_test=10, label_noise=0.0)
    data = load_data(cfg, seed=0)
    gen = torch.Generator().manual_seed(0)
    motif = torch.randint(1, cfg.vocab_size, (cfg.motif_length,), generator=gen)
    has_motif = _motif_starts(matrix(data.train), motif).any(dim=1).long()
    assert torch.equal(has_motif, data.train.labels)


def test_sizes_range_and_determinism() -> None:
    cfg = DataConfig(num_train=50, num_val=60, num_test=70, seq_len=12, vocab_size=9)
    a, b = load_data(cfg, seed=1), load_data(cfg, seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (50, 60, 70)
    assert matrix(a.train).shape == (50, 12)
    assert int(a.train.ids.min()) >= 1 and int(a.train.ids.max()) < 9
    assert torch.equal(a.val.ids, b.val.ids) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.val.ids, load_data(cfg, seed=2).val.ids)


def test_the_bayes_floor_is_the_bayes_predictors_loss_on_each_realized_split() -> None:
    assert bayes_loss(0.0, 0.0) == 0.0
    assert math.isclose(bayes_loss(0.5, 0.3), math.log(2))
    # Its expectation over splits is the binary entropy of the flip rate.
    assert math.isclose(bayes_loss(0.2, 0.2), -(0.2 * math.log(0.2) + 0.8 * math.log(0.8)))
    cfg = DataConfig(num_train=200, num_val=300, num_test=400)
    data = load_data(cfg, 0)
    gen = torch.Generator().manual_seed(0)
    motif = torch.randint(1, cfg.vocab_size, (cfg.motif_length,), generator=gen)
    for name in ("val", "test"):
        split = getattr(data, name)
        rule = _motif_starts(matrix(split), motif).any(dim=1).long()
        # The true rule at confidence 0.8, scored by hand on this split's labels.
        p = torch.where(rule == split.labels, 0.8, 0.2)
        assert math.isclose(data.bayes_loss[name], -p.log().mean().item(), rel_tol=1e-6)
    assert data.bayes_loss["val"] != data.bayes_loss["test"]
