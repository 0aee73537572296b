"""Joins one GPU host run of benchmarks/linear_pytorch.py and benchmarks/gpu.sh into the linear-layer table of record.

Reads, from one file or stdin, the PyTorch lines (M,K,N,pytorch_bf16_ms) and GpuLinearBenchmark's first table
(recipe,policy,M,K,N,fp8_ms,bf16_ms,speedup[,fp8_alternating_ms,bf16_alternating_ms]: each step alone, back to back,
as PyTorch's are timed; the alternating pair is not used here), and prints
recipe,policy,M,K,N,fp8_ms,bf16_ms,pytorch_bf16_ms,speedup,device,commit
with speedup = min(bf16_ms, pytorch_bf16_ms) / fp8_ms: each FP8 step against the faster BF16 step of the same run.
Where PyTorch's step was timed more than once (before and after float8j's runs, so that both see the GPU warm and
cool), its fastest time counts.
Usage: python3 benchmarks/gpu_linear_csv.py RUN_OUTPUT COMMIT > benchmarks/results/gpu-linear.csv
"""
import re
import sys


def main():
    path, commit = sys.argv[1], sys.argv[2]
    pytorch, rows, device = {}, [], "unknown"
    table = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            m = re.match(r"# device: ([^,]+)", line)
            if m:
                device = m.group(1)
            if line.startswith("M,K,N,pytorch_bf16_ms"):
                table = "pytorch"
            elif line.startswith("recipe,policy,M,K,N,fp8_ms,bf16_ms,speedup"):
                table = "float8j"
            elif line.startswith("recipe,") or line.startswith("#"):
                table = None if line.startswith("recipe,") else table
            elif table == "pytorch" and re.match(r"^\d+,\d+,\d+,[\d.]+$", line):
                m_, k, n, ms = line.split(",")
                # PyTorch's step is timed before and after float8j's runs; the faster of the two counts
                pytorch[(m_, k, n)] = min(float(ms), pytorch.get((m_, k, n), float("inf")))
            elif table == "float8j" and line.count(",") in (7, 9):
                recipe, policy, m_, k, n, fp8, bf16 = line.split(",")[:7]
                rows.append((recipe, policy, m_, k, n, float(fp8), float(bf16)))
    print("recipe,policy,M,K,N,fp8_ms,bf16_ms,pytorch_bf16_ms,speedup,device,commit")
    for recipe, policy, m_, k, n, fp8, bf16 in rows:
        torch_ms = pytorch.get((m_, k, n))
        if torch_ms is None:
            sys.exit(f"no PyTorch time for M={m_} K={k} N={n} in {path}")
        print(f"{recipe},{policy},{m_},{k},{n},{fp8:.3f},{bf16:.3f},{torch_ms:.3f},{min(bf16, torch_ms) / fp8:.3f},"
              f"{device},{commit}")


if __name__ == "__main__":
    main()
