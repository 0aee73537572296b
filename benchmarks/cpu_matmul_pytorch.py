"""PyTorch's CPU matmul (F32 and BF16) at the sizes and thread count CpuBenchmark uses, for a side-by-side peer on
a host where PyTorch is installed but the JavaCPP presets are not (the GPU host). Prints CSV
system,dtype,size,threads,gflops with the best of REPEATS timings after a warmup.

Each dtype is timed twice: `a @ b` with b stored K x N (dtype "float32", "bfloat16"), and `a @ w.t()` with w stored
N x K (dtype "float32_nt", "bfloat16_nt"), the layout of float8j's forward gemm, whose weight is stored N x K and
summed along its rows; the oneDNN path hands oneDNN that layout as it is.

Usage: python3 benchmarks/cpu_matmul_pytorch.py [threads] [size ...]
"""
import sys
import time

import torch

REPEATS = 5


def gflops(n, dtype, weight_n_by_k):
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    if weight_n_by_k:
        b = b.t()  # a view: the same storage read as N x K rows
    torch.mm(a, b)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    sizes = [int(s) for s in sys.argv[2:]] or [2048, 4096]
    torch.set_num_threads(threads)
    print("system,dtype,size,threads,gflops")
    for n in sizes:
        for dtype in (torch.float32, torch.bfloat16):
            for nt in (False, True):
                name = str(dtype).replace("torch.", "") + ("_nt" if nt else "")
                print(f"pytorch,{name},{n},{threads},{gflops(n, dtype, nt):.1f}", flush=True)


if __name__ == "__main__":
    main()
