"""Opens a safetensors file written by float8j's Weights.save with the Hugging Face safetensors library and
with PyTorch, and prints each tensor's name, dtype, shape and a checksum, plus the file's metadata.

Usage: python3 benchmarks/safetensors_check.py FILE
Fails (non-zero exit) when a tensor is not finite or the two readers disagree.
"""
import json
import struct
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file


def main():
    path = sys.argv[1]
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
    for name, t in tensors.items():
        if not torch.isfinite(t.float()).all():
            sys.exit(f"{name}: not finite")
        if list(t.shape) != header[name]["shape"]:
            sys.exit(f"{name}: shape {list(t.shape)} but the header says {header[name]['shape']}")
        print(f"{name} {t.dtype} {list(t.shape)} sum={t.float().sum().item():.6f}")
    print("metadata:", metadata)
    print(f"ok: {len(tensors)} tensors opened by safetensors {__import__('safetensors').__version__}"
          f" and torch {torch.__version__}")


if __name__ == "__main__":
    main()
