"""The SM clock and board power of each window a GPU benchmark reports, and its energy per step.

Runs the command given, sampling nvidia-smi every 50 ms (gpu_power.py) meanwhile. The command prints a line
"window,NAME,START_MS,END_MS,MS_PER_STEP" (wall-clock epoch milliseconds) for each workload it ran alone for a few
seconds (GpuLinearBenchmark --energy); its other lines pass through. For each window, the samples from half a second
after its start to its end give the mean clock and power, and energy per step = ms per step x mean watts.
Prints CSV: workload,ms_per_step,samples,sm_mhz_mean,sm_mhz_min,power_w_mean,power_capped_fraction,joules_per_step
Usage: python3 benchmarks/power_windows.py COMMAND [ARG ...]
"""
import subprocess
import sys
import time

from gpu_power import Sampler, summary

SETTLE_MS = 500  # samples from the first half second of a window still show the workload before


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sampler = Sampler()
    time.sleep(1.0)
    out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
    sampler.stop()
    print("workload,ms_per_step,samples,sm_mhz_mean,sm_mhz_min,power_w_mean,power_capped_fraction,joules_per_step")
    for line in out.stdout.splitlines():
        if not line.startswith("window,"):
            print(line)
            continue
        _, name, start, end, ms = line.split(",")
        samples = sampler.between((int(start) + SETTLE_MS) / 1000, int(end) / 1000)
        fields = summary(samples)
        watts = fields.split(",")[3]
        joules = f"{float(ms) * float(watts) / 1000:.3f}" if watts else ""
        print(f"{name},{ms},{fields},{joules}")
    if out.returncode != 0:
        raise SystemExit(f"the command exited with {out.returncode}")


if __name__ == "__main__":
    main()
