"""PyTorch's BF16 linear layer, forward + backward, compiled: the baseline float8j's GPU linear benchmark divides by.

One step is y = x @ W^T, then dX = dY @ W and dW = dY^T @ x (x requires grad, as inside a model), in BF16 with
torch.compile, timed with CUDA events after warm-up, best of several repeats of back-to-back steps. Each step starts
with x.grad and W.grad unset, as after zero_grad(set_to_none=True): autograd then hands the new gradients over instead
of adding them to the last step's, which float8j's step does not do either.
Usage: python3 benchmarks/linear_pytorch.py [M,K,N ...]   (default: the five shapes of benchmarks/gpu.sh)
Prints CSV lines: M,K,N,pytorch_bf16_ms
"""
import sys

import torch

SHAPES = [(16384, 8192, 8192), (16384, 4096, 4096), (16384, 4096, 14336), (16384, 14336, 4096), (8192, 8192, 8192)]


def time_shape(m, k, n, iters=5, repeats=8):
    torch.manual_seed(0)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)

    @torch.compile
    def forward(x, w):
        return torch.nn.functional.linear(x, w)

    def step():
        x.grad = None
        w.grad = None
        y = forward(x, w)
        y.backward(dy)

    for _ in range(5):
        step()
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / iters)
    return best


def main():
    shapes = [tuple(int(v) for v in s.split(",")) for s in sys.argv[1:]] or SHAPES
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}", flush=True)
    print("M,K,N,pytorch_bf16_ms", flush=True)
    for m, k, n in shapes:
        print(f"{m},{k},{n},{time_shape(m, k, n):.3f}", flush=True)


if __name__ == "__main__":
    main()
