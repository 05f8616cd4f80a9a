"""A dress rehearsal of the plug-in regularizers a config switches on: every hook once, on a
tiny network and batch, so that a broken plug-in stops the command with one line naming it
before any folder is made (the built-ins are tested; they are not rehearsed)."""

from __future__ import annotations

import torch

from lstm_overfit.config import Config
from lstm_overfit.models import LSTMBackbone, ModelSpec
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.regularizers.contract import PenaltyInputs
from lstm_overfit.regularizers.registry import PluginError, origin
from lstm_overfit.stopping import BestEpoch
from lstm_overfit.tasks.registry import task_kind


def rehearse(cfg: Config) -> None:
    """Raises PluginError naming the plug-in whose hook fails."""
    active = ActiveRegularizers(cfg.reg)
    plugins = sorted({source for r in active.items if (source := origin(r.name))})
    if not plugins:
        return
    kind = task_kind(cfg.dataset.task)
    spec = ModelSpec(
        task=kind.name,
        vocab_size=8 if kind.token_input else 0,
        embedding_size=4,
        layer_sizes=(4, 4),
        bidirectional=cfg.model.bidirectional,
        num_outputs=1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        inputs = torch.randint(0, 8, (2, 5)) if kind.token_input else torch.randn(2, 5)
        backbone = LSTMBackbone(spec, active.network())
        active.attach(backbone)
        params = list(backbone.parameters())
        try:
            hidden = backbone(inputs)
        except Exception as err:
            raise PluginError(
                f"{' and '.join(f'plug-in {p}' for p in plugins)}: a network transform failed "
                f"in a training forward pass: {type(err).__name__}: {err}; fix the plug-in"
            ) from err
        penalty = active.penalty(PenaltyInputs(backbone, hidden))
        loss = hidden.dropped.square().mean() + (0 if penalty is None else penalty)
        loss.backward()
        active.optimizer_groups(params)
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        active.clip_gradients(params, norm)
        active.stop_reason(BestEpoch())
        active.load_state_dict(active.state_dict())
        backbone.eval()
        try:
            with torch.no_grad():
                backbone(inputs)
        except Exception as err:
            raise PluginError(
                f"{' and '.join(f'plug-in {p}' for p in plugins)}: a network transform failed "
                f"in an eval-mode forward pass: {type(err).__name__}: {err}; fix the plug-in"
            ) from err
