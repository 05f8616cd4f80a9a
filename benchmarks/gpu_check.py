"""Checks for a machine with a CUDA GPU; prints measured results and writes them as JSON.

- weight drop keeps cuDNN's fused LSTM (same autograd node as the plain LSTM), its raw
  W_hh gets a gradient, and no warning is raised per step;
- zoneout runs on CUDA and, at rate ~0, equals the plain LSTM (with TF32 and without);
- training throughput of the small model (2x200) per regularizer against none (measured
  before and after the others);
- bf16 autocast on the fused kernel.

    python benchmarks/gpu_check.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

from lstm_overfit.config import Config, RegConfig, Task
from lstm_overfit.data.splits import TaskData
from lstm_overfit.layers import LSTMLayer
from lstm_overfit.models import LSTMClassifier, build_model, build_spec
from lstm_overfit.regularizers.active import ActiveRegularizers
from lstm_overfit.regularizers.schema import reg_config
from lstm_overfit.tasks.classify import classification_loss

CUDA = torch.device("cuda")


def small_model(reg: RegConfig) -> torch.nn.Module:
    """The small model (2x200) as a binary classifier over 1,000 tokens, with `reg`."""
    cfg = Config(reg=reg)
    cfg.model.embedding_size = cfg.model.hidden_size = 200
    data = TaskData(Task.classify, None, None, None, vocab_size=1000, num_classes=2)
    hooks = ActiveRegularizers(reg).network()
    return build_model(build_spec(cfg, data, outputs=1), LSTMClassifier, hooks).to(CUDA)


def batch(steps: int = 35, rows: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(1, 1000, (rows, steps), device=CUDA), torch.randint(
        0, 2, (rows,), device=CUDA
    )


def fused_kernel_kept() -> dict:
    torch.manual_seed(0)
    plain = small_model(reg_config()).train()
    dropped = small_model(reg_config(weight_drop=0.5)).train()
    dropped.load_state_dict(plain.state_dict())
    tokens, labels = batch()
    optimizer = torch.optim.SGD(dropped.parameters(), lr=0.1)
    raw = dropped.backbone.layers[0].lstm.weight_hh_l0
    before = raw.detach().clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            out = dropped(tokens)
            optimizer.zero_grad()
            classification_loss(out.prediction, labels).backward()
            grad = raw.grad.abs().sum().item()
            optimizer.step()
    return {
        "plain_grad_fn": type(plain(tokens).hidden.raw.grad_fn).__name__,
        "weight_drop_grad_fn": type(out.hidden.raw.grad_fn).__name__,
        "raw_w_hh_grad_abs_sum": grad,
        "raw_w_hh_moved": not torch.equal(raw.detach(), before),
        "warnings_in_20_steps": [str(w.message)[:120] for w in caught],
    }


def _relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def zoneout_on_cuda() -> dict:
    """Zoneout at rate ~0 against the plain layer: largest differences relative to the
    largest value, with cuDNN's default TF32 matrix products and with full float32."""
    results, found = {}, torch.backends.cudnn.allow_tf32
    for tf32 in (True, False):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.manual_seed(0)
        plain = LSTMLayer(200, 200, False).to(CUDA)
        zoneout = LSTMLayer(200, 200, False, state_keep=(1e-30, 0.0)).to(CUDA)
        zoneout.load_state_dict(plain.state_dict())
        x = torch.randn(64, 35, 200, device=CUDA)
        out_p, _ = plain(x)
        out_z, _ = zoneout(x)
        out_p.sum().backward()
        out_z.sum().backward()
        grads = zip(zoneout.parameters(), plain.parameters(), strict=True)
        results["tf32" if tf32 else "fp32"] = {
            "output_relative_diff": _relative(out_z, out_p),
            "grad_relative_diff": max(_relative(a.grad, b.grad) for a, b in grads),
        }
    torch.backends.cudnn.allow_tf32 = found
    return results


def throughput(reg: RegConfig, steps: int = 60) -> float:
    torch.manual_seed(0)
    model = small_model(reg).train()
    optimizer = torch.optim.Adam(model.parameters())
    tokens, labels = batch()
    for i in range(steps + 10):
        if i == 10:
            torch.cuda.synchronize()
            start = time.perf_counter()
        loss = classification_loss(model(tokens).prediction, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return steps * tokens.numel() / (time.perf_counter() - start)


def bf16_autocast() -> dict:
    model = small_model(reg_config())
    tokens, labels = batch()
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = classification_loss(model(tokens).prediction, labels)
        loss.backward()
        return {"ok": True, "loss": loss.item()}
    except Exception as err:  # report what this stack does, whatever it is
        return {"ok": False, "error": f"{type(err).__name__}: {err}"[:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    results["weight_drop"] = fused_kernel_kept()
    results["zoneout"] = zoneout_on_cuda()
    presets = {
        "none": reg_config(),
        "dropout": reg_config(dropout=0.5),
        "locked_dropout": reg_config(locked_dropout=0.5),
        "embedding_dropout": reg_config(embedding_dropout=0.2),
        "weight_drop": reg_config(weight_drop=0.5),
        "l2": reg_config(l2=1e-3),
        "ar_tar": reg_config(ar=2.0, tar=1.0),
        "zoneout": reg_config(zoneout=0.1),
    }
    # The GPU idles at a low clock: warm it up, and measure the reference again at the end.
    throughput(reg_config())
    speeds = {name: throughput(reg) for name, reg in presets.items()}
    speeds["none, again at the end"] = throughput(reg_config())
    reference = (speeds["none"] + speeds["none, again at the end"]) / 2
    results["tokens_per_second"] = {
        name: {"tokens_per_second": round(v), "ratio_to_none": round(v / reference, 3)}
        for name, v in speeds.items()
    }
    results["bf16_autocast"] = bf16_autocast()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
