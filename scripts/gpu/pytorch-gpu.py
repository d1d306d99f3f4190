"""PyTorch eager on a GPU for bench:gpu: the reference trainer's model, weights, batches and recipe.

scripts/reference/nanogpt_cpu.py builds shared/model/gpt.ts's GPT from shared/rng.ts's stream and
trains it on the CPU; this runs the first --steps of the same spec on --device (cuda by default),
so its losses must match the WebGPU run's step for step and its times are the column bench:gpu
divides by. Each step ends with loss.item(), which waits for the GPU, as the WebGPU run's await
does. Works with torch 1.13 (Debian) and 2.x.

    python3 scripts/gpu/pytorch-gpu.py --data public/data/tinyshakespeare --spec @spec.json --steps 20

The last stdout line is one JSON object: device, version, msPerStep (median after --warmup),
tokensPerSec, losses, stepMs. Progress goes to stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# The reference sits beside this file in a carried folder, in scripts/reference in the repository.
for d in (HERE, os.path.join(HERE, "..", "reference")):
    if os.path.exists(os.path.join(d, "nanogpt_cpu.py")):
        sys.path.insert(0, d)
        break
from nanogpt_cpu import GPT, Rng, adamw, load_run, sample_batch, train_step  # noqa: E402


def to_device(model, device):
    """Moves every parameter (and the mask) to `device`, keeping the model's references to them."""
    moved = {}
    params = []
    for t, decay in model.params:
        n = t.detach().to(device).requires_grad_(True)
        moved[id(t)] = n
        params.append((n, decay))
    model.params = params
    model.wte, model.wpe, model.ln_f = (moved[id(t)] for t in (model.wte, model.wpe, model.ln_f))
    model.blocks = [{k: moved[id(v)] for k, v in b.items()} for b in model.blocks]
    model.mask = model.mask.to(device)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--spec", required=True, help="ExperimentSpec JSON, or @file")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    spec, _, _, train = load_run(args.spec, args.data)
    device = torch.device(args.device)
    # fp32 everywhere, as WebGPU computes: TF32 matmuls on Ampere+ would round differently.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(spec["seed"])
    tc, T = spec["train"], spec["model"]["blockSize"]
    B = tc["batchSize"]
    model = to_device(GPT(spec["model"], spec["seed"]), device)
    opt = adamw(model, tc)
    rng = Rng.derive(spec["seed"], "batches")
    losses, step_ms = [], []
    for step in range(args.steps):
        t0 = time.perf_counter()
        x, y = (t.to(device, non_blocking=True) for t in sample_batch(train, B, T, rng))
        loss = train_step(model, opt, spec, step, x, y)
        losses.append(loss.item())
        step_ms.append((time.perf_counter() - t0) * 1000)
        print(f"pytorch {device} step {step + 1}/{args.steps} loss {losses[-1]:.4f} {step_ms[-1]:.1f} ms", file=sys.stderr)
    ms = statistics.median(step_ms[args.warmup :] or step_ms)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(json.dumps({"device": name, "version": torch.__version__, "msPerStep": ms, "tokensPerSec": B * T * 1000 / ms, "losses": losses, "stepMs": step_ms}))


if __name__ == "__main__":
    main()
