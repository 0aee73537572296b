"""Compares float8j's Fp8Format.encode with PyTorch's float32 -> float8 conversion on all 2^32 inputs.

Reads from stdin the 2^32 codes that Fp8EncodeStream writes (input bit pattern i at offset i) and compares
each 2^24-pattern chunk with torch's .to(float8) on CUDA and on the CPU. Usage: fp8_vs_pytorch.py e4m3fn|e5m2
"""
import sys
import time
import torch

CHUNK = 1 << 24
fmt = sys.argv[1]
dtype = {"e4m3fn": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}[fmt]
fmax = torch.finfo(dtype).max
buf = bytearray(CHUNK)
view = memoryview(buf)
counts = {}
examples = {}
overflow_torch = {}
cpu_vs_cuda = 0
start = time.time()


def is_nan_code(codes):
    if fmt == "e4m3fn":
        return (codes & 0x7F) == 0x7F
    return (codes & 0x7F) > 0x7C


def note(kind, n, sample):
    counts[kind] = counts.get(kind, 0) + n
    if n and len(examples.setdefault(kind, [])) < 6:
        examples[kind].extend(sample[: 6 - len(examples[kind])])


for c in range(1 << 8):
    got = 0
    while got < CHUNK:
        r = sys.stdin.buffer.readinto(view[got:])
        if not r:
            sys.exit(f"stream ended early in chunk {c} after {got} bytes")
        got += r
    java = torch.frombuffer(buf, dtype=torch.uint8).cuda()
    base = c * CHUNK if c < 128 else c * CHUNK - (1 << 32)
    bits = torch.arange(CHUNK, dtype=torch.int32, device="cuda") + base
    x = bits.view(torch.float32)
    ref = x.to(dtype).view(torch.uint8)
    cpu = x.cpu().to(dtype).view(torch.uint8)
    cpu_vs_cuda += int((cpu.cuda() != ref).sum())
    bad = java != ref
    nan_in = torch.isnan(x)
    overflow = (~nan_in) & (x.abs() > fmax)  # includes +-Inf
    # what torch gives in the overflow region, whatever float8j gives
    ov_codes = ref[overflow]
    for name, mask in (("NaN code", is_nan_code(ov_codes)), ("+-max", (ov_codes & 0x7F) == (0x7E if fmt == "e4m3fn" else 0x7B)),
                       ("+-Inf", (ov_codes & 0x7F) == 0x7C if fmt == "e5m2" else torch.zeros_like(ov_codes, dtype=torch.bool))):
        overflow_torch[name] = overflow_torch.get(name, 0) + int(mask.sum())
    for kind, mask in (("NaN input: both NaN codes, sign/payload differ", bad & nan_in & is_nan_code(java) & is_nan_code(ref)),
                       ("NaN input: other", bad & nan_in & ~(is_nan_code(java) & is_nan_code(ref))),
                       ("overflow region (|x| > max or Inf)", bad & overflow),
                       ("other (finite, in range)", bad & ~nan_in & ~overflow)):
        idx = mask.nonzero().flatten()
        sample = [(f"0x{(int(bits[i]) & 0xFFFFFFFF):08x}", float(x[i]), f"float8j=0x{int(java[i]):02x}", f"torch=0x{int(ref[i]):02x}")
                  for i in idx[:6].tolist()]
        note(kind, int(idx.numel()), sample)
    if c % 32 == 31:
        print(f"  {fmt}: {c + 1}/256 chunks, {time.time() - start:.0f}s", file=sys.stderr, flush=True)

print(f"format {fmt} (torch {torch.__version__}, {torch.cuda.get_device_name()}): 2^32 inputs compared in {time.time() - start:.0f}s")
print(f"  torch CPU vs torch CUDA: {cpu_vs_cuda} differing codes")
print(f"  torch in the overflow region (|x| > {fmax} or Inf, non-NaN): {overflow_torch}")
total = sum(counts.values())
print(f"  float8j vs torch CUDA: {total} mismatches")
for kind, n in counts.items():
    print(f"    {kind}: {n}; examples {examples.get(kind, [])[:6]}")
