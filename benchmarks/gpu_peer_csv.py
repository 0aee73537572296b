"""Sets float8j's FP8 linear step beside the Python FP8 peer's (linear_fp8_pytorch.py) from one GPU host run.

Reads the table of record (gpu_linear_csv.py's output) and the peer's CSV (recipe,M,K,N,pytorch_fp8_ms,...), and
prints, for each recipe the peer runs and each shape, float8j's fastest backward policy beside the peer:
recipe,M,K,N,float8j_policy,float8j_ms,peer_ms,peer_over_float8j,device,commit
(peer_over_float8j > 1: float8j's step is the faster).
Usage: python3 benchmarks/gpu_peer_csv.py GPU_LINEAR_CSV PEER_CSV > benchmarks/results/gpu-linear-peer.csv
"""
import csv
import sys


def main():
    linear_path, peer_path = sys.argv[1], sys.argv[2]
    best = {}
    for row in csv.DictReader(open(linear_path)):
        key = (row["recipe"], row["M"], row["K"], row["N"])
        if key not in best or float(row["fp8_ms"]) < float(best[key]["fp8_ms"]):
            best[key] = row
    print("recipe,M,K,N,float8j_policy,float8j_ms,peer_ms,peer_over_float8j,device,commit")
    with open(peer_path) as f:
        for line in f:
            parts = line.strip().split(",")
            if line.startswith(("#", "recipe")) or len(parts) < 5:
                continue
            recipe, m, k, n, peer_ms = parts[:5]
            ours = best.get((recipe, m, k, n))
            if ours is None:
                sys.exit(f"no float8j row for {recipe} M={m} K={k} N={n} in {linear_path}")
            print(f"{recipe},{m},{k},{n},{ours['policy']},{ours['fp8_ms']},{float(peer_ms):.3f},"
                  f"{float(peer_ms) / float(ours['fp8_ms']):.3f},{ours['device']},{ours['commit']}")


if __name__ == "__main__":
    main()
