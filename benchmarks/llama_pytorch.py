"""The plain-PyTorch reference for float8j's Llama benchmark (issue: train a transformer on the GPU).

The same model as dev.float8j.benchmarks.cuda.LlamaBenchmark: a Llama-style decoder (RMSNorm, rotary embedding
with the rotate-half pairing, grouped-query causal attention through scaled_dot_product_attention, SwiGLU MLP,
untied output head), trained with BF16 autocast over F32 master weights, fused AdamW and global-norm clipping,
compiled with torch.compile. Random token ids, so nothing is downloaded.

Usage: python3 benchmarks/llama_pytorch.py [--steps N] [--warmup N] [--profile N] [--layers 4] [--dim 4096] ...
Prints one CSV line per run: system,recipe,tokens_per_s,step_ms,peak_gib,device,commit,date. With --profile N it then
lists the GPU kernels of N more steps (torch.profiler), per step, and their totals by family (gemms, attention, AdamW,
Triton's fused kernels, the gradient norm), to set beside LlamaBenchmark's profile of float8j's step.
"""
import argparse
import datetime
import os
import time

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight.to(x.dtype)


def rope_tables(seq, head_dim, theta, device):
    inv = theta ** (-torch.arange(0, head_dim // 2, device=device, dtype=torch.float32) * 2 / head_dim)
    angles = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def rotate(x, cos, sin):
    # x [batch, seq, heads, head_dim]; pairs (i, i + head_dim/2)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).to(x.dtype)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = RMSNorm(a.dim, a.eps)
        self.q = nn.Linear(a.dim, a.dim, bias=False)
        self.k = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(a.dim, a.dim, bias=False)
        self.mlp_norm = RMSNorm(a.dim, a.eps)
        self.gate = nn.Linear(a.dim, a.ffn, bias=False)
        self.up = nn.Linear(a.dim, a.ffn, bias=False)
        self.down = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, cos, sin):
        b, s, d = x.shape
        h = self.attn_norm(x)
        q = rotate(self.q(h).view(b, s, self.heads, self.head_dim), cos, sin).transpose(1, 2)
        k = rotate(self.k(h).view(b, s, self.kv_heads, self.head_dim), cos, sin).transpose(1, 2)
        v = self.v(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(att.transpose(1, 2).reshape(b, s, d))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim, a.eps)
        self.head = nn.Linear(a.dim, a.vocab, bias=False)
        self.a = a

    def forward(self, ids, targets, cos, sin):
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.view(-1))


def arguments():
    """The model's and the run's options, shared with llama_fsdp2.py."""
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=4096)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=14336)
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--theta", type=float, default=10000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="after the timed steps, profile this many more and print their kernel times per step")
    p.add_argument("--commit", default=os.environ.get("FLOAT8J_COMMIT", "unknown"))
    return p


def main():
    p = arguments()
    a = p.parse_args()

    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = Llama(a).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=True)
    cos, sin = rope_tables(a.seq, a.dim // a.heads, a.theta, dev)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev)
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()

    def loss_fn(inp, tgt):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return model(inp, tgt, cos, sin)

    step_loss = loss_fn if a.no_compile else torch.compile(loss_fn)

    def step():
        loss = step_loss(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=False)
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    last = loss.item()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1000 / a.steps
    tokens = a.batch * a.seq
    peak = torch.cuda.max_memory_allocated() / 2**30
    name = torch.cuda.get_device_name().replace(",", " ")
    print(f"# pytorch {torch.__version__}, loss after {a.warmup + a.steps} steps {last:.4f}", flush=True)
    print(f"pytorch,bf16,{tokens * 1000 / ms:.0f},{ms:.2f},{peak:.2f},{name},{a.commit},"
          f"{datetime.date.today().isoformat()}", flush=True)
    if a.profile > 0:
        print_kernel_times(step, a.profile)


# Kernel families by name, first match wins: what each of PyTorch's kernels does in this step.
FAMILIES = [
    ("attention", ("flash", "fmha", "sdpa", "cudnn", "attn")),
    ("adamw", ("adam",)),
    ("gemm", ("gemm", "nvjet", "xmma", "cutlass", "sm90_", "cublas")),
    ("elementwise and fused (triton)", ("triton",)),
    ("norm of gradients, clipping", ("multi_tensor", "lpnorm")),
]


def family(kernel):
    name = kernel.lower()
    for label, keys in FAMILIES:
        if any(k in name for k in keys):
            return label
    return "other"


def print_kernel_times(step, steps):
    """Runs steps more steps under torch.profiler and prints each kernel's and each family's GPU time per step."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA and e.device_time_total > 0:
            total, calls = kernels.get(e.name, (0.0, 0))
            kernels[e.name] = (total + e.device_time_total / 1000.0, calls + 1)
    families = {}
    for name, (total, calls) in kernels.items():
        families[family(name)] = families.get(family(name), 0.0) + total
    whole = sum(t for t, _ in kernels.values())
    print(f"# kernel times per step over {steps} profiled step(s): {whole / steps:.2f} ms of kernels a step")
    for label, total in sorted(families.items(), key=lambda f: -f[1]):
        print(f"# family {total / steps:9.3f} ms  {label}")
    for name, (total, calls) in sorted(kernels.items(), key=lambda k: -k[1][0])[:40]:
        print(f"# kernel {total / steps:9.3f} ms {calls // steps:5d} calls  {name[:110]}")


if __name__ == "__main__":
    main()
