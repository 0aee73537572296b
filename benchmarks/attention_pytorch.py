"""PyTorch's reference for AttentionBenchmark: causal scaled_dot_product_attention in BF16 with grouped-query
heads, forward and forward+backward, timed with CUDA events at the same shape and with the same FLOP count.

Usage: python3 benchmarks/attention_pytorch.py [batch seq heads kv_heads head_dim [timed_calls]]
Prints CSV system,pass,ms,tflops: once for SDPA's own choice of kernel with enable_gqa=True, then once per
backend forced (flash, cuDNN) where that backend accepts the call.
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

WARMUP, DEFAULT_REPEATS = 3, 10


def timed(work, repeats):
    for _ in range(WARMUP):
        work()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats):
        work()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def main():
    b, s, h, kvh, d = (int(x) for x in sys.argv[1:6]) if len(sys.argv) >= 6 else (4, 4096, 32, 8, 128)
    repeats = int(sys.argv[6]) if len(sys.argv) > 6 else DEFAULT_REPEATS
    print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"batch={b} seq={s} heads={h} kvHeads={kvh} headDim={d}, {repeats} timed calls")
    gen = torch.Generator(device="cuda").manual_seed(42)
    q = (torch.rand(b, h, s, d, device="cuda", generator=gen) * 2 - 1).to(torch.bfloat16).requires_grad_()
    k = (torch.rand(b, kvh, s, d, device="cuda", generator=gen) * 2 - 1).to(torch.bfloat16).requires_grad_()
    v = (torch.rand(b, kvh, s, d, device="cuda", generator=gen) * 2 - 1).to(torch.bfloat16).requires_grad_()
    d_out = (torch.rand(b, h, s, d, device="cuda", generator=gen) * 2 - 1).to(torch.bfloat16)
    forward_flops = 4.0 * b * h * s * s * d / 2

    def forward():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    def both():
        q.grad = k.grad = v.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        out.backward(d_out)

    print("system,pass,ms,tflops")
    for label, backends in (("pytorch-sdpa", None), ("pytorch-flash", [SDPBackend.FLASH_ATTENTION]),
                            ("pytorch-cudnn", [SDPBackend.CUDNN_ATTENTION])):
        try:
            if backends is None:
                fwd_ms, both_ms = timed(forward, repeats), timed(both, repeats)
            else:
                with sdpa_kernel(backends):
                    fwd_ms, both_ms = timed(forward, repeats), timed(both, repeats)
        except RuntimeError as e:
            print(f"# {label}: not available for this call ({str(e).splitlines()[0][:160]})")
            continue
        print(f"{label},forward,{fwd_ms:.3f},{forward_flops / fwd_ms / 1e9:.1f}")
        print(f"{label},backward,{both_ms - fwd_ms:.3f},{2.5 * forward_flops / (both_ms - fwd_ms) / 1e9:.1f}")
        print(f"{label},forward+backward,{both_ms:.3f},{3.5 * forward_flops / both_ms / 1e9:.1f}")


if __name__ == "__main__":
    main()
