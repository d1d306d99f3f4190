"""nanoGPT's own CPU recipe on TinyShakespeare, for several seeds, evaluated three ways.

What does "val loss ~1.88" (nanoGPT's README, = 2.72 bits per char) mean for our val_bpb? This runs
the recipe the way nanoGPT's train.py and model.py do it — torch.manual_seed(1337 + k), nn.Module
init (N(0, 0.02), c_proj scaled by 1/sqrt(2·n_layer), tied head), random-offset batches from
torch.randint, AdamW with its two parameter groups (dim ≥ 2 decayed), get_lr, clip 1.0, an
estimate_loss every eval_interval that draws from the same torch RNG — and, at iter 2000, evaluates:

- nanogpt: estimate_loss's val number (eval_iters random batches of batch_size × block_size);
- pinned: the manifest's first 256 evalWindows starts, as shared/train/loop.ts's evaluate does;
- full: every non-overlapping block_size window of the val split.

    /usr/bin/python3 scripts/reference/nanogpt_seeds.py --data public/data/tinyshakespeare --seeds 0 1 2

Debian's torch 1.13 has no scaled_dot_product_attention, so attention is nanoGPT's own fallback
(masked_fill -inf, softmax). Each run is one JSON line on stdout; progress goes to stderr. Use
--threads 1 on a shared 2-core machine: 2 OpenMP threads ran 2–6× slower there.

Measured (November 2026, seeds 1337–1341): val_bpb mean ± sd over seeds — nanoGPT's 20-batch
estimate 2.736 ± 0.022, pinned windows 2.731 ± 0.013, whole val split 2.744 ± 0.011. The README's
"~1.88" (2.72) is one draw of the first; GELU tanh instead of erf moved each by ≤ 0.0003.
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
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# nanoGPT's model.py (bias=False, dropout 0, no flash attention on torch 1.13)


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_attn = nn.Linear(cfg["n_embd"], 3 * cfg["n_embd"], bias=cfg["bias"])
        self.c_proj = nn.Linear(cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])
        self.n_head, self.n_embd = cfg["n_head"], cfg["n_embd"]
        T = cfg["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg["n_embd"], 4 * cfg["n_embd"], bias=cfg["bias"])
        self.gelu = nn.GELU(approximate=cfg["gelu"])  # nanoGPT: nn.GELU() = "none" (erf)
        self.c_proj = nn.Linear(4 * cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg["n_embd"], cfg["bias"])
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg["n_embd"], cfg["bias"])
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(cfg["vocab_size"], cfg["n_embd"]),
                wpe=nn.Embedding(cfg["block_size"], cfg["n_embd"]),
                h=nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])]),
                ln_f=LayerNorm(cfg["n_embd"], cfg["bias"]),
            )
        )
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, reduction="mean"):
        _, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), reduction=reduction)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        groups = [
            {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)  # eps: torch's 1e-8


# ---------------------------------------------------------------------------------------------
# nanoGPT's train.py, config/train_shakespeare_char.py + the README's CPU command line


def get_lr(it, a):
    if it < a.warmup_iters:
        return a.learning_rate * (it + 1) / (a.warmup_iters + 1)
    if it > a.lr_decay_iters:
        return a.min_lr
    ratio = (it - a.warmup_iters) / (a.lr_decay_iters - a.warmup_iters)
    return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (a.learning_rate - a.min_lr)


def get_batch(data, a):
    ix = torch.randint(len(data) - a.block_size, (a.batch_size,))
    x = torch.stack([torch.from_numpy(data[i : i + a.block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + a.block_size].astype(np.int64)) for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, train, val, a):
    out = {}
    for split, data in (("train", train), ("val", val)):
        losses = torch.zeros(a.eval_iters)
        for k in range(a.eval_iters):
            X, Y = get_batch(data, a)
            losses[k] = model(X, Y)[1].item()
        out[split] = losses.mean().item()
        out[split + "_se"] = (losses.std() / math.sqrt(a.eval_iters)).item()
    return out


@torch.no_grad()
def windows_loss(model, val, starts, T, token_bytes):
    """Σ nats / tokens and Σ nats / (ln 2 · Σ target bytes) over windows of T inputs at `starts`."""
    nats, nbytes, tokens = 0.0, 0, 0
    for i in range(0, len(starts), 16):  # 16 windows at a time, as loop.ts's evaluate
        group = starts[i : i + 16]
        x = torch.stack([torch.from_numpy(val[s : s + T].astype(np.int64)) for s in group])
        y = torch.stack([torch.from_numpy(val[s + 1 : s + T + 1].astype(np.int64)) for s in group])
        nats += model(x, y, reduction="sum")[1].item()
        nbytes += int(token_bytes[y].sum())
        tokens += y.numel()
    return {"loss": nats / tokens, "bpb": nats / (math.log(2) * nbytes), "windows": len(starts)}


def run(seed_offset, a, train, val, manifest):
    torch.manual_seed(1337 + seed_offset)
    cfg = dict(n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size, bias=False,
               vocab_size=len(manifest["vocab"]), gelu=a.gelu)
    model = GPT(cfg)
    opt = model.configure_optimizers(a.weight_decay, a.learning_rate, (a.beta1, a.beta2))
    token_bytes = torch.tensor(manifest["tokenBytes"])
    T = a.block_size
    result = {"seedOffset": seed_offset, "seed": 1337 + seed_offset, "gelu": a.gelu, "iters": a.max_iters, "evals": []}
    X, Y = get_batch(train, a)
    t0 = time.perf_counter()
    it = 0
    while True:
        lr = get_lr(it, a)
        for g in opt.param_groups:
            g["lr"] = lr
        if it % a.eval_interval == 0:
            model.eval()
            est = estimate_loss(model, train, val, a)
            model.train()
            result["evals"].append({"iter": it, **est})
            print(f"seed {1337 + seed_offset} step {it}: train {est['train']:.4f} val {est['val']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if it == a.max_iters:  # nanoGPT reports this eval; its extra step at iter max_iters is not evaluated
            break
        _, loss = model(X, Y)
        X, Y = get_batch(train, a)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        it += 1
    model.eval()
    last = result["evals"][-1]
    result["nanogpt"] = {"loss": last["val"], "bpb": last["val"] / math.log(2), "se": last["val_se"], "batches": a.eval_iters}
    result["pinned"] = windows_loss(model, val, manifest["evalWindows"]["starts"][: a.eval_windows], T, token_bytes)
    result["full"] = windows_loss(model, val, list(range(0, len(val) - T - 1, T)), T, token_bytes)
    result["seconds"] = time.perf_counter() - t0
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="public/data/tinyshakespeare", help="a dataset directory built by datasets/build.ts")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="k in torch.manual_seed(1337 + k)")
    ap.add_argument("--gelu", default="none", choices=["none", "tanh"], help="nanoGPT: none (erf); gpt.ts: tanh")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--eval-windows", type=int, default=256, help="pinned windows, as the preset's evalWindows")
    # The README's CPU command on top of config/train_shakespeare_char.py and train.py's defaults.
    ap.add_argument("--max-iters", dest="max_iters", type=int, default=2000)
    ap.add_argument("--lr-decay-iters", dest="lr_decay_iters", type=int, default=2000)
    ap.add_argument("--eval-interval", dest="eval_interval", type=int, default=250)
    ap.add_argument("--eval-iters", dest="eval_iters", type=int, default=20)
    a = ap.parse_args()
    a.n_layer, a.n_head, a.n_embd, a.block_size, a.batch_size = 4, 4, 128, 64, 12
    a.learning_rate, a.min_lr, a.warmup_iters = 1e-3, 1e-4, 100
    a.beta1, a.beta2, a.weight_decay, a.grad_clip = 0.9, 0.99, 0.1, 1.0

    torch.set_num_threads(a.threads)
    manifest = json.load(open(os.path.join(a.data, "manifest.json")))
    dtype = np.uint8 if manifest["dtype"] == "uint8" else np.dtype("<u2")
    train = np.fromfile(os.path.join(a.data, manifest["train"]["file"]), dtype=dtype)
    val = np.fromfile(os.path.join(a.data, manifest["val"]["file"]), dtype=dtype)
    results = []
    for k in a.seeds:
        r = run(k, a, train, val, manifest)
        results.append(r)
        print(json.dumps(r), flush=True)
    for method in ("nanogpt", "pinned", "full"):
        bpbs = [r[method]["bpb"] for r in results]
        spread = f", mean {statistics.mean(bpbs):.4f} sd {statistics.stdev(bpbs):.4f}" if len(bpbs) > 1 else ""
        print(f"{method:8} val_bpb " + " ".join(f"{b:.4f}" for b in bpbs) + spread, file=sys.stderr)


if __name__ == "__main__":
    main()
