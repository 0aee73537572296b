"""A Python FP8 peer for float8j's GPU linear benchmark: one FP8 linear layer's forward + backward written with
PyTorch's own public pieces, the way torchao.float8 builds it (casts compiled by torch.compile, gemms by
torch._scaled_mm), timed as linear_pytorch.py times the BF16 step.

torchao itself is not installed on the GPU host (no network there), so this is the same method, written out:
- tensorwise: x and W in E4M3, dY in E5M2, one scale per tensor (amax / max of the format);
- rowwise: every operand in E4M3, one scale per row along the summed axis, as each gemm needs it: x per row of x
  (output) and per column (grad_weight), W per row (output) and per column (grad_input), dY per row (grad_input)
  and per column (grad_weight);
- blockwise: DeepSeek-V3's recipe, x and dY in 1x128 tiles along each gemm's summed axis, W in 128x128 blocks, all
  E4M3, through torch.nn.functional.scaled_mm (cuBLASLt's block-scaled gemms; no fast accumulation there);
- fast accumulation in the output gemm only (torchao's default; float8j's benchmark does the same).
The whole step (casts, transposes and three gemms) is one compiled function, so Inductor may fuse every cast of a
tensor into one kernel: no autograd, no saved tensors, nothing a layer would add. That makes it a lower bound on what
a torchao layer costs, not an upper one.

Each step's results are checked against the BF16 step (relative Frobenius error of y, dX and dW), so a fast but
wrong peer shows.
Usage: python3 benchmarks/linear_fp8_pytorch.py [M,K,N ...]   (default: the five shapes of benchmarks/gpu.sh)
       python3 benchmarks/linear_fp8_pytorch.py --profile [RECIPE] M,K,N ...   (each kernel's time, torch.profiler)
Prints CSV lines: recipe,M,K,N,pytorch_fp8_ms,err_y,err_dx,err_dw
"""
import sys

import torch

SHAPES = [(16384, 8192, 8192), (16384, 4096, 4096), (16384, 4096, 14336), (16384, 14336, 4096), (8192, 8192, 8192)]
E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2
# Inductor compiles each shape anew (dynamic=False); allow every shape and recipe its own entry.
torch._dynamo.config.cache_size_limit = 64


def cast(t, dtype, dim):
    """t scaled into dtype's range, per tensor (dim None) or per slice along dim, and the inverse scale (F32)."""
    fmax = torch.finfo(dtype).max
    a = t.abs().float()
    amax = a.amax() if dim is None else a.amax(dim=dim, keepdim=True)
    scale = fmax / torch.clamp(amax, min=1e-12)
    q = (t.float() * scale).clamp(-fmax, fmax).to(dtype)
    return q, scale.reciprocal()


def col_major(q):
    """The same matrix stored column-major, as torch._scaled_mm wants its second operand."""
    return q.t().contiguous().t()


def step_tensorwise(x, w, dy):
    x8, sx = cast(x, E4M3, None)
    w8, sw = cast(w, E4M3, None)
    dy8, sdy = cast(dy, E5M2, None)
    y = torch._scaled_mm(x8, w8.t(), sx, sw, out_dtype=torch.bfloat16, use_fast_accum=True)
    dx = torch._scaled_mm(dy8, col_major(w8), sdy, sw, out_dtype=torch.bfloat16)
    dw = torch._scaled_mm(dy8.t().contiguous(), col_major(x8), sdy, sx, out_dtype=torch.bfloat16)
    return y, dx, dw


def step_rowwise(x, w, dy):
    x_rows, sx_rows = cast(x, E4M3, 1)        # [M,1]: output gemm, summed over K
    w_rows, sw_rows = cast(w, E4M3, 1)        # [N,1]: output gemm
    y = torch._scaled_mm(x_rows, w_rows.t(), sx_rows, sw_rows.t(), out_dtype=torch.bfloat16, use_fast_accum=True)
    dy_rows, sdy_rows = cast(dy, E4M3, 1)     # [M,1]: grad_input, summed over N
    w_cols, sw_cols = cast(w, E4M3, 0)        # [1,K]: grad_input
    dx = torch._scaled_mm(dy_rows, col_major(w_cols), sdy_rows, sw_cols, out_dtype=torch.bfloat16)
    dy_cols, sdy_cols = cast(dy, E4M3, 0)     # [1,N]: grad_weight, summed over M
    x_cols, sx_cols = cast(x, E4M3, 0)        # [1,K]: grad_weight
    dw = torch._scaled_mm(dy_cols.t().contiguous(), col_major(x_cols), sdy_cols.t(), sx_cols,
                          out_dtype=torch.bfloat16)
    return y, dx, dw


def cast_tiles(t, dtype):
    """t in 1x128 tiles along its last axis (one scale per 128 consecutive values), and the inverse scales
    [rows, cols / 128] stored column-major, the layout torch's block-scaled gemm reads."""
    fmax = torch.finfo(dtype).max
    rows, cols = t.shape
    tiles = t.float().reshape(rows, cols // 128, 128)
    scale = fmax / torch.clamp(tiles.abs().amax(dim=2, keepdim=True), min=1e-12)
    q = (tiles * scale).clamp(-fmax, fmax).to(dtype).reshape(rows, cols)
    return q, col_major(scale.reshape(rows, cols // 128).reciprocal())


def cast_blocks(t, dtype):
    """t in 128x128 blocks, and the inverse scales [rows / 128, cols / 128]."""
    fmax = torch.finfo(dtype).max
    rows, cols = t.shape
    blocks = t.float().reshape(rows // 128, 128, cols // 128, 128)
    scale = fmax / torch.clamp(blocks.abs().amax(dim=(1, 3), keepdim=True), min=1e-12)
    q = (blocks * scale).clamp(-fmax, fmax).to(dtype).reshape(rows, cols)
    return q, scale.reshape(rows // 128, cols // 128).reciprocal()


def block_mm(a, scale_a, kind_a, b, scale_b, kind_b):
    """torch's block-scaled FP8 gemm (torch.nn.functional.scaled_mm, PyTorch 2.10 and later): a row-major, b
    column-major, kind_* naming each operand's blocks."""
    F = torch.nn.functional
    kinds = {"1x128": F.ScalingType.BlockWise1x128, "128x128": F.ScalingType.BlockWise128x128}
    return F.scaled_mm(a, b, scale_a, kinds[kind_a], scale_b, kinds[kind_b], output_dtype=torch.bfloat16)


def step_blockwise(x, w, dy):
    """DeepSeek-V3's recipe as torchao's blockwise builds it: x and dY in 1x128 tiles along the summed axis of each
    gemm, W in 128x128 blocks (the same blocks serve W and its transpose); E4M3 throughout."""
    x_k, sx_k = cast_tiles(x, E4M3)                 # output: tiles along K
    w_b, sw_b = cast_blocks(w, E4M3)                # [N/128, K/128]
    y = block_mm(x_k, sx_k, "1x128", w_b.t(), sw_b.t(), "128x128")
    dy_n, sdy_n = cast_tiles(dy, E4M3)              # grad_input: tiles along N
    dx = block_mm(dy_n, sdy_n, "1x128", col_major(w_b), col_major(sw_b), "128x128")
    dy_m, sdy_m = cast_tiles(dy.t().contiguous(), E4M3)   # grad_weight: tiles along M
    x_m, sx_m = cast_tiles(x.t().contiguous(), E4M3)
    dw = block_mm(dy_m, sdy_m, "1x128", x_m.t(), sx_m, "1x128")
    return y, dx, dw


STEPS = {"tensorwise": step_tensorwise, "rowwise": step_rowwise, "blockwise": step_blockwise}


def rel_err(got, want):
    return float((got.float() - want.float()).norm() / want.float().norm())


def prepare(name, m, k, n):
    """x, W and dY as float8j's benchmark draws them (BF16 Gaussians, W scaled by 0.02, dY by 1e-3), and the recipe's
    step compiled for this shape."""
    torch.manual_seed(0)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
    dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16) * 1e-3
    return x, w, dy, torch.compile(STEPS[name], dynamic=False)


def time_shape(name, m, k, n, iters=5, repeats=8):
    x, w, dy, step = prepare(name, m, k, n)
    y, dx, dw = step(x, w, dy)
    errors = (rel_err(y, x @ w.t()), rel_err(dx, dy @ w), rel_err(dw, dy.t() @ x))
    del y, dx, dw
    for _ in range(5):
        step(x, w, dy)
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step(x, w, dy)
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / iters)
    return best, errors


def profile_shape(name, m, k, n, steps=3):
    """Each CUDA kernel's time over a few steps after warm-up, from torch.profiler: where the peer's step goes."""
    from torch.profiler import ProfilerActivity, profile

    x, w, dy, step = prepare(name, m, k, n)
    for _ in range(8):
        step(x, w, dy)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step(x, w, dy)
        torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0)
        if us > 0:
            rows.append((us / 1000.0, e.count, e.key))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"# peer {name} step, kernel times summed over {steps} steps (M={m} K={k} N={n}):", flush=True)
    for ms, calls, key in rows[:30]:
        print(f"{ms:10.3f} {100 * ms / total:5.1f}% {calls:6d}  {key[:160]}", flush=True)
    print(f"{total:10.3f} total over {len(rows)} kernels", flush=True)


def main():
    if sys.argv[1:2] == ["--profile"]:
        # --profile [RECIPE] M,K,N ...: every recipe, or the one named
        names = [a for a in sys.argv[2:] if a in STEPS] or list(STEPS)
        for s in (a for a in sys.argv[2:] if a not in STEPS):
            m, k, n = (int(v) for v in s.split(","))
            for name in names:
                profile_shape(name, m, k, n)
        return
    shapes = [tuple(int(v) for v in s.split(",")) for s in sys.argv[1:]] or SHAPES
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}: FP8 linear step, compiled casts and "
          "torch._scaled_mm", flush=True)
    print("recipe,M,K,N,pytorch_fp8_ms,err_y,err_dx,err_dw", flush=True)
    for m, k, n in shapes:
        for name in STEPS:
            try:
                ms, (ey, edx, edw) = time_shape(name, m, k, n)
                print(f"{name},{m},{k},{n},{ms:.3f},{ey:.4f},{edx:.4f},{edw:.4f}", flush=True)
            except Exception as e:  # a recipe this PyTorch cannot run is reported, and the others still run
                print(f"# {name} {m},{k},{n} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
