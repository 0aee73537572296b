"""What would the tensorwise FP8 linear step gain from casting its transposed copies on a second stream?

Issue 14's tensorwise target (1.75x a BF16 step at M=16384, K=N=8192) leaves about 0.3-0.5 ms beyond the three gemms.
The step casts x, W and dY along both axes between the gemms, on one stream. Only the copies along 1 (x for the
output gemm, dY for grad_input) are needed at once; the transposed ones (W's for grad_input, x's and dY's for
grad_weight) could run beside the gemm before the one that reads them. This script measures that design with
PyTorch's own kernels (torch._scaled_mm, compiled casts); float8j's form of it is `CudaBackend.castBeside` on the
branch side-casts. On an H100 (2026-12-07, gpu.md's twenty-sixth section) both were slower than casting in line:
the step runs at the 700 W power cap, so a cast beside a gemm takes clock from it (power_clock_pytorch.py).

  bf16:         the three BF16 matmuls (output, grad_input, grad_weight), torch.mm;
  gemms:        the three FP8 gemms alone on operands cast once;
  serial:       casts and gemms on one stream, each tensor cast along both axes in one compiled kernel;
  side:         the copies along 1 on the main stream, the transposed copies on a second stream, started as soon as
                their input is ready and waited for just before the gemm that reads them;
  side_carveN:  side with N multiprocessors left to the second stream (torch._C._set_sm_carveout_experimental).

Each under delayed scaling (the scale is given: one read of each input) and current scaling (an amax pass first).
Prints CSV: variant,scaling,ms_per_step,bf16_over (the BF16 step's time over this one).
Usage: python3 benchmarks/side_stream_pytorch.py [M,K,N]
"""
import sys

import torch

from overlap_pytorch import best_ms

E4M3, E5M2 = torch.float8_e4m3fn, torch.float8_e5m2
STEPS = 20


def rows(t, scale, dtype):
    fmax = torch.finfo(dtype).max
    return (t.float() * scale).clamp(-fmax, fmax).to(dtype)


@torch.compile
def cast_rows_e4m3(t, scale):
    return rows(t, scale, E4M3)


@torch.compile
def cast_rows_e5m2(t, scale):
    return rows(t, scale, E5M2)


@torch.compile
def cast_cols_e4m3(t, scale):
    return rows(t, scale, E4M3).t().contiguous()


@torch.compile
def cast_cols_e5m2(t, scale):
    return rows(t, scale, E5M2).t().contiguous()


@torch.compile
def cast_both_e4m3(t, scale):
    q = rows(t, scale, E4M3)
    return q, q.t().contiguous()


@torch.compile
def cast_both_e5m2(t, scale):
    q = rows(t, scale, E5M2)
    return q, q.t().contiguous()


@torch.compile
def scale_of(t, dtype_max: float):
    return dtype_max / torch.clamp(t.abs().amax().float(), min=1e-12)


CASTS = {E4M3: (cast_rows_e4m3, cast_cols_e4m3, cast_both_e4m3), E5M2: (cast_rows_e5m2, cast_cols_e5m2, cast_both_e5m2)}


def best_ms_per_step(work):
    """work runs STEPS steps; the best of its repeats, per step."""
    return best_ms(work) / STEPS


class Step:
    def __init__(self, m, k, n):
        torch.manual_seed(0)
        self.x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        self.w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        self.dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16) * 1e-3
        self.side = torch.cuda.Stream()
        # delayed scaling: the scales a history would give, here the tensors' own
        self.known = {name: scale_of(t, torch.finfo(f).max) for name, t, f in
                      (("x", self.x, E4M3), ("w", self.w, E4M3), ("dy", self.dy, E5M2))}
        self.operands = self.cast_all()

    def scale(self, name, t, fmt, delayed):
        return self.known[name] if delayed else scale_of(t, torch.finfo(fmt).max)

    def cast_all(self):
        out = {}
        for name, t, f in (("x", self.x, E4M3), ("w", self.w, E4M3), ("dy", self.dy, E5M2)):
            s = self.known[name]
            q, qt = CASTS[f][2](t, s)
            out[name] = (q, qt, s.reciprocal())
        return out

    def gemms(self, ops):
        (x1, x0, xs), (w1, w0, ws), (d1, d0, ds) = ops["x"], ops["w"], ops["dy"]
        torch._scaled_mm(x1, w1.t(), xs, ws, out_dtype=torch.bfloat16, use_fast_accum=True)
        torch._scaled_mm(d1, w0.t(), ds, ws, out_dtype=torch.bfloat16, use_fast_accum=False)
        torch._scaled_mm(d0, x0.t(), ds, xs, out_dtype=torch.bfloat16, use_fast_accum=False)

    def bf16(self):
        torch.mm(self.x, self.w.t())
        torch.mm(self.dy, self.w)
        torch.mm(self.dy.t(), self.x)

    def serial(self, delayed):
        ops = {}
        for name, t, f in (("x", self.x, E4M3), ("w", self.w, E4M3)):
            s = self.scale(name, t, f, delayed)
            ops[name] = (*CASTS[f][2](t, s), s.reciprocal())
        x1, _, xs = ops["x"]
        w1, _, ws = ops["w"]
        torch._scaled_mm(x1, w1.t(), xs, ws, out_dtype=torch.bfloat16, use_fast_accum=True)
        s = self.scale("dy", self.dy, E5M2, delayed)
        d1, d0 = CASTS[E5M2][2](self.dy, s)
        ds = s.reciprocal()
        _, w0, _ = ops["w"]
        x0 = ops["x"][1]
        torch._scaled_mm(d1, w0.t(), ds, ws, out_dtype=torch.bfloat16, use_fast_accum=False)
        torch._scaled_mm(d0, x0.t(), ds, xs, out_dtype=torch.bfloat16, use_fast_accum=False)

    def beside(self, work):
        """work on the side stream after everything queued so far on the main stream; returns its result."""
        main = torch.cuda.current_stream()
        self.side.wait_stream(main)
        with torch.cuda.stream(self.side):
            result = work()
        for r in result:
            r.record_stream(main)  # allocated on the side stream, read on the main one
        return result

    def with_side_stream(self, delayed):
        main = torch.cuda.current_stream()
        sx = self.scale("x", self.x, E4M3, delayed)
        sw = self.scale("w", self.w, E4M3, delayed)
        x1 = CASTS[E4M3][0](self.x, sx)
        w1 = CASTS[E4M3][0](self.w, sw)
        w0, x0 = self.beside(lambda: (CASTS[E4M3][1](self.w, sw), CASTS[E4M3][1](self.x, sx)))
        xs, ws = sx.reciprocal(), sw.reciprocal()
        torch._scaled_mm(x1, w1.t(), xs, ws, out_dtype=torch.bfloat16, use_fast_accum=True)
        sd = self.scale("dy", self.dy, E5M2, delayed)
        d1 = CASTS[E5M2][0](self.dy, sd)
        (d0,) = self.beside(lambda: (CASTS[E5M2][1](self.dy, sd),))
        ds = sd.reciprocal()
        for t in (sx, sw, sd):
            t.record_stream(self.side)
        # grad_input needs W's transposed copy, queued on the side stream before the forward gemm
        main.wait_stream(self.side)
        torch._scaled_mm(d1, w0.t(), ds, ws, out_dtype=torch.bfloat16, use_fast_accum=False)
        torch._scaled_mm(d0, x0.t(), ds, xs, out_dtype=torch.bfloat16, use_fast_accum=False)

    def with_side_stream_late_wait(self, delayed):
        """As with_side_stream, but W's transposed copy goes first on the side stream and dY's is waited for only
        before grad_weight: grad_input then waits for W's copy alone, through an event."""
        main = torch.cuda.current_stream()
        sx = self.scale("x", self.x, E4M3, delayed)
        sw = self.scale("w", self.w, E4M3, delayed)
        x1 = CASTS[E4M3][0](self.x, sx)
        w1 = CASTS[E4M3][0](self.w, sw)
        self.side.wait_stream(main)
        with torch.cuda.stream(self.side):
            w0 = CASTS[E4M3][1](self.w, sw)
            w0_ready = torch.cuda.Event()
            w0_ready.record(self.side)
            x0 = CASTS[E4M3][1](self.x, sx)
        xs, ws = sx.reciprocal(), sw.reciprocal()
        torch._scaled_mm(x1, w1.t(), xs, ws, out_dtype=torch.bfloat16, use_fast_accum=True)
        sd = self.scale("dy", self.dy, E5M2, delayed)
        d1 = CASTS[E5M2][0](self.dy, sd)
        self.side.wait_stream(main)
        with torch.cuda.stream(self.side):
            d0 = CASTS[E5M2][1](self.dy, sd)
        for t in (w0, x0, d0):
            t.record_stream(main)
        for t in (sx, sw, sd):
            t.record_stream(self.side)
        ds = sd.reciprocal()
        main.wait_event(w0_ready)
        torch._scaled_mm(d1, w0.t(), ds, ws, out_dtype=torch.bfloat16, use_fast_accum=False)
        main.wait_stream(self.side)
        torch._scaled_mm(d0, x0.t(), ds, xs, out_dtype=torch.bfloat16, use_fast_accum=False)


def main():
    m, k, n = (int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "16384,8192,8192").split(","))
    step = Step(m, k, n)
    variants = {
        "bf16": lambda d: step.bf16(),
        "gemms": lambda d: step.gemms(step.operands),
        "serial": step.serial,
        "side": step.with_side_stream,
        "side_late_wait": step.with_side_stream_late_wait,
    }
    setter = getattr(torch._C, "_set_sm_carveout_experimental", None)

    def repeat(fn, delayed):
        return lambda: [fn(delayed) for _ in range(STEPS)]

    for fn in variants.values():
        for d in (True, False):
            repeat(fn, d)()
    print(f"# M={m} K={k} N={n}, {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("variant,scaling,ms_per_step,bf16_over")
    for _ in range(2):
        bf16 = best_ms_per_step(repeat(variants["bf16"], True))
        print(f"bf16,-,{bf16:.3f},1.000")
        for delayed in (True, False):
            scaling = "delayed" if delayed else "current"
            for name in ("gemms", "serial", "side", "side_late_wait"):
                if name == "gemms" and not delayed:
                    continue
                ms = best_ms_per_step(repeat(variants[name], delayed))
                print(f"{name},{scaling},{ms:.3f},{bf16 / ms:.3f}")
            if setter is not None:
                for sms in (8, 16):
                    setter(sms)
                    repeat(variants["side_late_wait"], delayed)()
                    ms = best_ms_per_step(repeat(variants["side_late_wait"], delayed))
                    setter(None)
                    print(f"side_late_wait_carve{sms},{scaling},{ms:.3f},{bf16 / ms:.3f}")


if __name__ == "__main__":
    main()
