"""The SM clock and board power while each part of the tensorwise FP8 linear step runs, on this GPU.

Issue 14's analysis reads two effects as the power cap setting the clock: the FP8 gemms run slower inside the step
than alone, and a cast on a second stream beside them (side_stream_pytorch.py) makes the step slower, not faster.
This samples nvidia-smi every 50 ms while one workload at a time runs for a few seconds, back to back on the GPU:

  bf16:         the step's three BF16 matmuls (torch.mm);
  fp8_gemms:    its three tensorwise FP8 gemms (torch._scaled_mm) on operands cast once;
  casts:        the step's casts alone (x, W and dY along both axes, delayed scaling: one read of each);
  fp8_serial:   casts and gemms on one stream, as float8j runs them;
  fp8_side:     the transposed copies on a second stream beside the gemms.

Prints CSV: workload,ms_per_step,samples,sm_mhz_mean,sm_mhz_min,power_w_mean,power_capped_fraction (the share of
samples in which nvidia-smi reports the software power cap among the clock's limits).
Usage: python3 benchmarks/power_clock_pytorch.py [M,K,N]
"""
import sys
import time

import torch

from gpu_power import Sampler, summary
from side_stream_pytorch import CASTS, E4M3, E5M2, Step

SECONDS = 4.0
SETTLE = 0.5  # samples from the first half second of a workload still show the one before


def run_for(work, seconds):
    """Runs work back to back for about seconds; returns (start, end, ms per call)."""
    torch.cuda.synchronize()
    start = time.time()
    calls = 0
    begin = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    begin.record()
    while time.time() - start < seconds:
        for _ in range(10):
            work()
        calls += 10
        torch.cuda.synchronize()
    end.record()
    torch.cuda.synchronize()
    return start, time.time(), begin.elapsed_time(end) / calls


def main():
    m, k, n = (int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "16384,8192,8192").split(","))
    step = Step(m, k, n)

    def casts():
        for name, t, f in (("x", step.x, E4M3), ("w", step.w, E4M3), ("dy", step.dy, E5M2)):
            CASTS[f][2](t, step.known[name])

    workloads = {
        "bf16": step.bf16,
        "fp8_gemms": lambda: step.gemms(step.operands),
        "casts": casts,
        "fp8_serial": lambda: step.serial(True),
        "fp8_side": lambda: step.with_side_stream_late_wait(True),
    }
    for work in workloads.values():
        for _ in range(3):
            work()
    torch.cuda.synchronize()
    sampler = Sampler()
    time.sleep(1.0)
    print(f"# M={m} K={k} N={n}, {torch.cuda.get_device_name()}, torch {torch.__version__}, nvidia-smi every 50 ms")
    print("workload,ms_per_step,samples,sm_mhz_mean,sm_mhz_min,power_w_mean,power_capped_fraction")
    for _ in range(2):
        for name, work in workloads.items():
            t0, t1, ms = run_for(work, SECONDS)
            print(f"{name},{ms:.3f},{summary(sampler.between(t0 + SETTLE, t1))}")
    sampler.stop()


if __name__ == "__main__":
    main()
