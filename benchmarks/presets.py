"""Seconds per epoch of each preset: the runner's own records (training and evaluation).

Short presets run whole epochs; the long ones run a slice of their training data for one
epoch, and the figure is scaled to the full epoch by tokens (training) and by the share of
the validation split evaluated (evaluation), which the table says.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bare_loop import compose_config

from lstm_overfit.fit import fit
from lstm_overfit.run_folder import read_metrics

# (name, overrides, epochs to run; the last one is measured), against the data folder.
PRESETS = (
    ("default run (synthetic, model=tiny)", [], 3),
    ("+experiment=smoke", ["+experiment=smoke"], 2),
    ("dataset=sunspots", ["dataset=sunspots", "dataset.path={data}/sunspots/monthly.csv"], 3),
    ("dataset=co2", ["dataset=co2", "dataset.path={data}/co2/weekly.csv"], 3),
    ("dataset=ptb model=small", ["dataset=ptb", "dataset.path={data}/ptb", "model=small"], 1),
    ("+experiment=zaremba_small", ["+experiment=zaremba_small", "dataset.path={data}/ptb"], 1),
    ("+experiment=tutorial_imdb", ["+experiment=tutorial_imdb", "dataset.path={data}/imdb"], 1),
    ("+experiment=zaremba_medium", ["+experiment=zaremba_medium", "dataset.path={data}/ptb"], 1),
    ("+experiment=awd_ptb", ["+experiment=awd_ptb", "dataset.path={data}/ptb"], 1),
)
# The slices the long presets run: training examples (tokens for Penn Treebank) and the
# validation split's share.
SLICES = {
    "+experiment=tutorial_imdb": ["dataset.num_train=700", "dataset.num_val=300"],
    "dataset=ptb model=small": ["dataset.num_train=46480", "dataset.num_val=3688"],
    "+experiment=zaremba_small": ["dataset.num_train=46480", "dataset.num_val=3688"],
    "+experiment=zaremba_medium": ["dataset.num_train=9296", "dataset.num_val=738"],
    "+experiment=awd_ptb": ["dataset.num_train=9296", "dataset.num_val=738"],
}


def rows(data: Path) -> list[dict]:
    out = []
    for name, overrides, epochs in PRESETS:
        overrides = [o.format(data=data) for o in overrides]
        sliced = SLICES.get(name, [])
        cfg = compose_config(
            [*overrides, *sliced, f"train.epochs={epochs}", "train.progress=false"]
        )
        with tempfile.TemporaryDirectory() as tmp:
            fit(cfg, Path(tmp))
            last = read_metrics(Path(tmp))[-1]
        train, evaluate = last["epoch_seconds"] - last["eval_seconds"], last["eval_seconds"]
        figure = "seconds per epoch (training + evaluation)"
        if sliced:
            full = compose_config([*overrides, "train.epochs=1"])
            scale = _scale(cfg, full)
            train, evaluate = train * scale["train"], evaluate * scale["val"]
            figure += f", from a 1/{round(scale['train'])} slice scaled up"
        out.append(
            {
                "configuration": name,
                "figure": figure,
                "value": train + evaluate,
                "target": "",
                "detail": {"train": train, "eval": evaluate},
            }
        )
    return out


def _scale(sliced, full) -> dict[str, float]:
    """How much larger the full epoch's training and validation parts are than the slice's."""
    from lstm_overfit.data.load import load_data

    small, whole = load_data(sliced.dataset, 0), load_data(full.dataset, 0)
    return {
        name: len(getattr(whole, name)) / len(getattr(small, name)) for name in ("train", "val")
    }
