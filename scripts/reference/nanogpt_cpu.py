"""PyTorch reference for the browser trainer: the same GPT, recipe, initial weights and batches.

Trains an ExperimentSpec (JSON, as shared/spec.ts defines it) on a dataset built by
datasets/build.ts, with shared/model/gpt.ts's model (nanoGPT without biases, tied head, GELU with
the tanh approximation, weights stored (in, out)) and shared/train/adamw.ts's AdamW, clip and
schedule. The initial weights and the batches come from a port of shared/rng.ts, so step 0 matches
the browser's loss and both runs see the same batches in the same order.

    python3 scripts/reference/nanogpt_cpu.py --data public/data/tinyshakespeare --spec spec.json

On Debian: apt-get install -y python3-torch libopenblas0-pthread. Without an optimised BLAS, Debian's
torch falls back to the reference libblas and runs ~10× slower (1185 vs 111 ms/step measured here).

The last stdout line is one JSON object: msPerStep (median after --warmup steps), tokensPerSec,
valBpb, valLoss, losses, curve. Progress goes to stderr.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

M32 = 0xFFFFFFFF


class Rng:
    """sfc32 exactly as shared/rng.ts (same seed → same stream)."""

    def __init__(self, seed):
        if isinstance(seed, int):
            self.s = [0x9E3779B9, 0x243F6A88, 0xB7E15162, seed & M32]
            for _ in range(12):
                self.next_uint32()
        else:
            self.s = list(seed)

    @staticmethod
    def derive(seed, purpose):
        h = (2166136261 ^ (seed & M32)) & M32  # FNV-1a over the purpose, mixed with the seed
        for ch in purpose:
            h = ((h ^ ord(ch)) * 16777619) & M32
        return Rng(h)

    def next_uint32(self):
        s = self.s
        t = (s[0] + s[1] + s[3]) & M32
        s[3] = (s[3] + 1) & M32
        s[0] = s[1] ^ (s[1] >> 9)
        s[1] = (s[2] * 9) & M32
        s[2] = (((s[2] << 21) | (s[2] >> 11)) + t) & M32
        return t

    def next(self):
        return self.next_uint32() / 4294967296

    def int(self, n):
        return math.floor(self.next() * n)

    def normal(self):
        u = 1 - self.next()
        v = self.next()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)


class GPT:
    """shared/model/gpt.ts's GPT: parameters drawn in the same order from the same stream."""

    def __init__(self, cfg, seed):
        self.cfg = cfg
        rng = Rng.derive(seed, "init")
        C, V, L = cfg["nEmbd"], cfg["vocabSize"], cfg["nLayer"]
        if cfg["bias"]:
            raise SystemExit("the reference follows the presets: bias false only")
        self.params = []  # (tensor, decay)

        def normal(shape, std):
            n = int(np.prod(shape))
            values = np.fromiter((rng.normal() * std for _ in range(n)), dtype=np.float64, count=n)
            return self._add(torch.tensor(values.astype(np.float32).reshape(shape)), True)

        def ones(n):
            return self._add(torch.ones(n), False)

        proj_std = 0.02 / math.sqrt(2 * L)
        self.wte = normal([V, C], 0.02)
        self.wpe = normal([cfg["blockSize"], C], 0.02)
        self.blocks = []
        for _ in range(L):
            self.blocks.append(
                dict(
                    ln1=ones(C),
                    attn=normal([C, 3 * C], 0.02),
                    proj=normal([C, C], proj_std),
                    ln2=ones(C),
                    fc=normal([C, 4 * C], 0.02),
                    fc_proj=normal([4 * C, C], proj_std),
                )
            )
        self.ln_f = ones(C)
        causal = torch.triu(torch.ones(cfg["blockSize"], cfg["blockSize"]), diagonal=1)
        self.mask = causal * -1e9  # as gpt.ts: added before the softmax

    def _add(self, t, decay):
        t.requires_grad_(True)
        self.params.append((t, decay))
        return t

    def logits(self, idx, dropout=0.0):
        B, T = idx.shape
        C, nh = self.cfg["nEmbd"], self.cfg["nHead"]
        hs = C // nh
        drop = (lambda x: F.dropout(x, dropout)) if dropout > 0 else (lambda x: x)
        ln = lambda x, w: F.layer_norm(x, (C,), w, None, 1e-5)
        x = drop(self.wte[idx] + self.wpe[:T])  # (B, T, C)
        for b in self.blocks:
            q, k, v = (ln(x, b["ln1"]) @ b["attn"]).split(C, dim=2)  # (B, T, C) each
            q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hs) + self.mask[:T, :T], dim=-1)
            y = (drop(att) @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
            x = x + drop(y @ b["proj"])
            x = x + drop(F.gelu(ln(x, b["ln2"]) @ b["fc"], approximate="tanh") @ b["fc_proj"])
        return ln(x, self.ln_f) @ self.wte.T  # (B, T, V), tied head


def learning_rate(step, tc):
    """shared/train/adamw.ts's learningRate: linear warmup, then cosine to minLr."""
    if step < tc["warmupSteps"]:
        return tc["lr"] * (step + 1) / (tc["warmupSteps"] + 1)
    if step >= tc["steps"]:
        return tc["minLr"]
    ratio = (step - tc["warmupSteps"]) / max(1, tc["steps"] - tc["warmupSteps"])
    return tc["minLr"] + 0.5 * (1 + math.cos(math.pi * ratio)) * (tc["lr"] - tc["minLr"])


def sample_batch(data, B, T, rng):
    starts = [rng.int(len(data) - T - 1) for _ in range(B)]
    x = torch.stack([torch.from_numpy(data[s : s + T].astype(np.int64)) for s in starts])
    y = torch.stack([torch.from_numpy(data[s + 1 : s + T + 1].astype(np.int64)) for s in starts])
    return x, y


@torch.no_grad()
def load_run(spec_arg, data):
    """The spec (JSON, or @file), and the dataset in `data`: its manifest, token dtype and train split."""
    spec = json.loads(open(spec_arg[1:]).read() if spec_arg.startswith("@") else spec_arg)
    manifest = json.load(open(os.path.join(data, "manifest.json")))
    dtype = np.uint8 if manifest["dtype"] == "uint8" else np.dtype("<u2")
    train = np.fromfile(os.path.join(data, manifest["train"]["file"]), dtype=dtype)
    return spec, manifest, dtype, train


def adamw(model, tc):
    """AdamW over the model's parameters, weight decay on the matrices only (shared/train/adamw.ts)."""
    groups = [
        {"params": [p for p, d in model.params if d], "weight_decay": tc["weightDecay"]},
        {"params": [p for p, d in model.params if not d], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=tc["lr"], betas=(tc["beta1"], tc["beta2"]), eps=tc["eps"])


def train_step(model, opt, spec, step, x, y):
    """One step of the recipe: scheduled lr, forward with dropout, backward, clip, AdamW; returns the loss tensor."""
    tc = spec["train"]
    lr = learning_rate(step, tc)
    for g in opt.param_groups:
        g["lr"] = lr
    logits = model.logits(x, spec["model"]["dropout"])
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if tc["gradClip"] > 0:
        torch.nn.utils.clip_grad_norm_([p for p, _ in model.params], tc["gradClip"])
    opt.step()
    return loss


def evaluate(model, spec, manifest, val, starts=None):
    """val_bpb and val loss (nats) over the spec's pinned windows, or over `starts`."""
    T = spec["model"]["blockSize"]
    if starts is None:
        starts = manifest["evalWindows"]["starts"][: spec["evalWindows"]]
    token_bytes = torch.tensor(manifest["tokenBytes"])
    nats, nbytes, tokens = 0.0, 0, 0
    for i in range(0, len(starts), 16):
        group = starts[i : i + 16]
        x = torch.stack([torch.from_numpy(val[s : s + T].astype(np.int64)) for s in group])
        y = torch.stack([torch.from_numpy(val[s + 1 : s + T + 1].astype(np.int64)) for s in group])
        logits = model.logits(x)
        nats += F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), reduction="sum").item()
        nbytes += int(token_bytes[y].sum())
        tokens += y.numel()
    return nats / (math.log(2) * nbytes), nats / tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="a dataset directory built by datasets/build.ts")
    ap.add_argument("--spec", required=True, help="ExperimentSpec JSON, or @file")
    ap.add_argument("--warmup", type=int, default=5, help="steps left out of the median")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--eval-all", action="store_true", help="also val_bpb over the whole val split")
    args = ap.parse_args()
    spec, manifest, dtype, train = load_run(args.spec, args.data)
    val = np.fromfile(os.path.join(args.data, manifest["val"]["file"]), dtype=dtype)
    if spec["model"]["vocabSize"] != len(manifest["vocab"]):
        raise SystemExit("the spec and the dataset disagree on the vocabulary")

    torch.set_num_threads(args.threads)
    torch.manual_seed(spec["seed"])  # dropout only; weights and batches come from Rng
    tc, T = spec["train"], spec["model"]["blockSize"]
    B = tc["batchSize"]
    model = GPT(spec["model"], spec["seed"])
    opt = adamw(model, tc)
    rng = Rng.derive(spec["seed"], "batches")
    losses, step_ms = [], []
    every = max(1, round(tc["steps"] / 10))
    for step in range(tc["steps"]):
        t0 = time.perf_counter()
        x, y = sample_batch(train, B, T, rng)
        loss = train_step(model, opt, spec, step, x, y)
        losses.append(loss.item())
        step_ms.append((time.perf_counter() - t0) * 1000)
        if (step + 1) % every == 0 or step == 0:
            print(f"pytorch step {step + 1}/{tc['steps']} loss {losses[-1]:.4f} {step_ms[-1]:.0f} ms", file=sys.stderr)
    val_bpb, val_loss = evaluate(model, spec, manifest, val)
    extra = {}
    if args.eval_all:  # every non-overlapping window: ~7× the tokens of 256 pinned windows of 64
        starts = list(range(0, len(val) - T - 1, T))
        extra["valBpbAll"], extra["valLossAll"] = evaluate(model, spec, manifest, val, starts)
    timed = step_ms[args.warmup :] or step_ms
    ms = statistics.median(timed)
    every = tc["curveEvery"]
    curve = [sum(seg) / len(seg) for seg in (losses[i : i + every] for i in range(0, len(losses), every))]
    print(
        json.dumps(
            {
                "name": "pytorch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "msPerStep": ms,
                "tokensPerSec": B * T * 1000 / ms,
                "valBpb": val_bpb,
                "valLoss": val_loss,
                "losses": losses,
                "curve": curve,
                **extra,
            }
        )
    )


if __name__ == "__main__":
    main()
