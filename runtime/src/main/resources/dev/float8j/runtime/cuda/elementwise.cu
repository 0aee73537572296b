// Element-by-element ops of a transformer: residual add, SwiGLU forward and backward, gradient accumulation, and a
// gemm's bias (added to its F32 result; its gradient as column sums). SwiGLU's kernels also report their outputs'
// absolute maxima, which the tensorwise FP8 casts of the next gemm read instead of passing over the tensor again.
// Tensors are F32 or BF16 (DT_F32, DT_BF16), math is F32; each kernel but column_sums is a grid-stride loop over
// n elements.
#include "common.cuh"
#include "lines.cuh"

#define GRID_STRIDE(i, n) GRID_STRIDE_FROM(i, 0, n)
// elements first..n-1: what the four-wide loop of add and swiglu left (all of it when a pointer is unaligned)
#define GRID_STRIDE_FROM(i, first, n) \
    for (long i = (first) + blockIdx.x * (long) blockDim.x + threadIdx.x; i < (n); i += (long) gridDim.x * blockDim.x)

// Quads a thread of the grid-stride SwiGLU kernels takes at a time, all loaded before any is finished: a store may
// alias a later load as far as the compiler knows, so one quad at a time left each thread one quad's loads in flight.
// Their BF16 paths take STRIDE_QUADS, with STRIDE_BLOCKS blocks of 256 threads per multiprocessor: left to itself
// ptxas gave the backward 64 registers (four blocks), which would have kept only a third more bytes in flight; at 40
// registers (six blocks) neither kernel spills, and each keeps twice the bytes in flight that it did a quad at a time.
#define STRIDE_QUADS 2
#define STRIDE_BLOCKS 6

// Runs quads (as over_lines in lines.cuh: load(q, raw), then finish(q, raw, v) computing and storing K outputs' four
// values) over quads 0..count-1 of arrays 16-byte aligned, grid-stride, UNROLL quads a thread at a time (q, q + stride,
// ...) with every load issued before the first finish. total[k] gets the largest abs_bits of output k's values.
template <int K, int UNROLL, class Quads>
__device__ __forceinline__ void over_quads(long count, u32 (&total)[K], const Quads& quads) {
    long stride = (long) gridDim.x * blockDim.x;
    for (long q = blockIdx.x * (long) blockDim.x + threadIdx.x; q < count; q += UNROLL * stride) {
        typename Quads::Raw raw[UNROLL];
#pragma unroll
        for (int j = 0; j < UNROLL; j++) {
            if (q + j * stride < count) quads.load(q + j * stride, raw[j]);
        }
#pragma unroll
        for (int j = 0; j < UNROLL; j++) {
            if (q + j * stride < count) {
                float v[K][4];
                quads.finish(q + j * stride, raw[j], v);
#pragma unroll
                for (int k = 0; k < K; k++)
#pragma unroll
                    for (int e = 0; e < 4; e++) total[k] = max(total[k], abs_bits(v[k][e]));
            }
        }
    }
}

// into[i] += g[i] for n elements; into F32 or BF16 (intoType: a gradient kept in BF16, the sum rounded once), g F32
// or BF16 (gType). Gradient accumulation.
extern "C" __global__ void add_into(void* into, int intoType, const void* g, long n, int gType) {
    GRID_STRIDE(i, n) {
        store_elem(into, i, intoType, load_elem(into, i, intoType) + load_elem(g, i, gType));
    }
}

// out[r][c] = in[r][c] + bias[c] + addend[r][c] for a row-major rows x cols F32 matrix (bias or addend null: none),
// written in outType: F32 (out may be in) or BF16 (rounded to nearest even once, after the F32 adds); the addend is
// in outType. Used where cuBLASLt's epilogue takes no F32 bias for a gemm, and after an F32 matmul rounded to BF16:
// the gemm writes F32 and this adds and rounds once, as the epilogue would.
extern "C" __global__ void epilogue_add(const float* in, const float* bias, const void* addend, long rows, int cols,
                                        void* out, int outType) {
    GRID_STRIDE(i, rows * cols) {
        float v = in[i];
        if (bias) v += bias[i % cols];
        if (addend) v += load_elem(addend, i, outType);
        store_elem(out, i, outType, v);
    }
}

// out[c] = the sum of column c of a row-major rows x cols matrix g (gType), accumulated in F32 from row 0 to the
// last: a bias's gradient from dY. One thread per column, so neighbouring threads read neighbouring elements of
// each row and the sum's order (hence its bits) is fixed, as on the host.
extern "C" __global__ void column_sums(const void* g, int rows, int cols, int gType, float* out) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) {
        return;
    }
    float sum = 0.0f;
    for (long r = 0; r < rows; r++) {
        sum += load_elem(g, r * cols + c, gType);
    }
    out[c] = sum;
}

// out = a + b, in a's dtype (the residual stream). Four elements per load where the pointers allow it.
extern "C" __global__ void add(const void* a, int aType, const void* b, int bType, void* out, long n) {
    long first = 0;
    if (aligned16(a, b, out)) {
        GRID_STRIDE(q, n / 4) {
            float x[4], y[4];
            load4(a, q, aType, x);
            load4(b, q, bType, y);
            for (int j = 0; j < 4; j++) x[j] += y[j];
            store4(out, q, aType, x);
        }
        first = n / 4 * 4;
    }
    GRID_STRIDE_FROM(i, first, n) {
        store_elem(out, i, aType, load_elem(a, i, aType) + load_elem(b, i, bType));
    }
}

__device__ __forceinline__ float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

// h = silu(g) * u for four values, in place in g.
__device__ __forceinline__ void swiglu4(float* g, const float* u) {
    for (int j = 0; j < 4; j++) g[j] = g[j] * sigmoid(g[j]) * u[j];
}

// h = silu(gate) * up over quads (see over_lines in lines.cuh), stored to h in gate's dtype.
struct SwigluQuads {
    const void* gate; int gType; const void* up; int uType; void* h;
    struct Raw { RawQuad g, u; };
    __device__ __forceinline__ void load(long q, Raw& r) const {
        r.g = load_raw4(gate, q, gType);
        r.u = load_raw4(up, q, uType);
    }
    // v gets h's values before rounding
    __device__ __forceinline__ void finish(long q, const Raw& r, float (&v)[1][4]) const {
        float u[4];
        raw4_to_floats(r.g, gType, v[0]);
        raw4_to_floats(r.u, uType, u);
        swiglu4(v[0], u);
        store4(h, q, gType, v[0]);
    }
};

// h = silu(gate) * up, silu(g) = g * sigmoid(g); h in gate's dtype, *amax (null: none) its absolute maximum. Four
// elements per load where the pointers allow it, STRIDE_QUADS quads a thread at a time where all are BF16.
extern "C" __global__ void __launch_bounds__(256, STRIDE_BLOCKS) swiglu(const void* gate, int gType, const void* up,
                                                                         int uType, void* h, long n, u32* amax) {
    __shared__ u32 amaxScratch[32];
    u32 top[1] = {0};
    long first = 0;
    if (aligned16(gate, up, h)) {
        if (gType == DT_BF16 && uType == DT_BF16) {
            over_quads<1, STRIDE_QUADS>(n / 4, top, SwigluQuads{gate, DT_BF16, up, DT_BF16, h});
        } else {
            over_quads<1, 1>(n / 4, top, SwigluQuads{gate, gType, up, uType, h});
        }
        first = n / 4 * 4;
    }
    GRID_STRIDE_FROM(i, first, n) {
        float g = load_elem(gate, i, gType);
        float out = g * sigmoid(g) * load_elem(up, i, uType);
        top[0] = max(top[0], abs_bits(out));
        store_elem(h, i, gType, out);
    }
    block_amax(top[0], gType, amax, amaxScratch);
}

// swiglu over rows x cols (cols % 4 == 0, pointers 16-byte aligned) that also reports h's row and column maxima into
// lines (lines.cuh; its grid), and its absolute maximum into *amax. A kernel of its own: its registers for the column
// maxima would otherwise cost swiglu's grid-stride loop its occupancy.
extern "C" __global__ void __launch_bounds__(LINE_THREADS, 3) swiglu_lines(const void* gate, int gType, const void* up,
        int uType, void* h, long rows, int cols, u32* amax, u32* lines) {
    __shared__ u32 amaxScratch[32];
    u32* const out[1] = {lines};
    const int types[1] = {gType};
    u32 top[1] = {0};
    over_lines<1>(rows, cols, out, types, top, SwigluQuads{gate, gType, up, uType, h});
    block_amax(top[0], gType, amax, amaxScratch);
}

// dGate = dH * up * silu'(gate), silu'(g) = s + g s (1 - s); dUp = dH * silu(gate). Each in its input's dtype.
__device__ __forceinline__ void swiglu_grads(float dh, float g, float u, float& dGate, float& dUp) {
    float s = sigmoid(g);
    dGate = dh * u * (s + g * s * (1.0f - s));
    dUp = dh * g * s;
}

// swiglu_grads over quads (see over_lines in lines.cuh), stored to dGate and dUp in gate's and up's dtypes.
struct SwigluBackwardQuads {
    const void* dH; int dhType; const void* gate; int gType; const void* up; int uType; void* dGate; void* dUp;
    struct Raw { RawQuad dh, g, u; };
    __device__ __forceinline__ void load(long q, Raw& r) const {
        r.dh = load_raw4(dH, q, dhType);
        r.g = load_raw4(gate, q, gType);
        r.u = load_raw4(up, q, uType);
    }
    // d[0] and d[1] get dGate's and dUp's values before rounding
    __device__ __forceinline__ void finish(long q, const Raw& r, float (&d)[2][4]) const {
        float dh[4], g[4], u[4];
        raw4_to_floats(r.dh, dhType, dh);
        raw4_to_floats(r.g, gType, g);
        raw4_to_floats(r.u, uType, u);
        for (int j = 0; j < 4; j++) swiglu_grads(dh[j], g[j], u[j], d[0][j], d[1][j]);
        store4(dGate, q, gType, d[0]);
        store4(dUp, q, uType, d[1]);
    }
};

// *amaxGate and *amaxUp (null: none) get dGate's and dUp's absolute maxima. Quads as swiglu takes them.
extern "C" __global__ void __launch_bounds__(256, STRIDE_BLOCKS) swiglu_backward(const void* dH, int dhType,
        const void* gate, int gType, const void* up, int uType, void* dGate, void* dUp, long n, u32* amaxGate,
        u32* amaxUp) {
    __shared__ u32 amaxScratch[32];
    u32 top[2] = {0, 0};
    long first = 0;
    if (aligned16(dH, gate, up, dGate, dUp)) {
        if (dhType == DT_BF16 && gType == DT_BF16 && uType == DT_BF16) {
            over_quads<2, STRIDE_QUADS>(n / 4, top,
                                        SwigluBackwardQuads{dH, DT_BF16, gate, DT_BF16, up, DT_BF16, dGate, dUp});
        } else {
            over_quads<2, 1>(n / 4, top, SwigluBackwardQuads{dH, dhType, gate, gType, up, uType, dGate, dUp});
        }
        first = n / 4 * 4;
    }
    GRID_STRIDE_FROM(i, first, n) {
        float dg, du;
        swiglu_grads(load_elem(dH, i, dhType), load_elem(gate, i, gType), load_elem(up, i, uType), dg, du);
        top[0] = max(top[0], abs_bits(dg));
        top[1] = max(top[1], abs_bits(du));
        store_elem(dGate, i, gType, dg);
        store_elem(dUp, i, uType, du);
    }
    block_amax(top[0], gType, amaxGate, amaxScratch);
    block_amax(top[1], uType, amaxUp, amaxScratch);
}

// swiglu_backward over rows x cols as swiglu_lines: dGate's and dUp's row and column maxima go to linesGate and
// linesUp, their absolute maxima to *amaxGate and *amaxUp. Two quads a lane (over_lines' QUADS): at four, the two
// outputs' column maxima and the three inputs' loads took 122 registers, two blocks per multiprocessor, and on an H100
// it took 0.99 ms on 16384 x 14336 BF16 against 0.95 at three blocks. At four blocks two quads a lane spilled.
extern "C" __global__ void __launch_bounds__(LINE_THREADS, 3) swiglu_backward_lines(const void* dH, int dhType,
        const void* gate, int gType, const void* up, int uType, void* dGate, void* dUp, long rows, int cols,
        u32* amaxGate, u32* amaxUp, u32* linesGate, u32* linesUp) {
    __shared__ u32 amaxScratch[32];
    u32* const out[2] = {linesGate, linesUp};
    const int types[2] = {gType, uType};
    u32 top[2] = {0, 0};
    over_lines<2, 2>(rows, cols, out, types, top,
                     SwigluBackwardQuads{dH, dhType, gate, gType, up, uType, dGate, dUp});
    block_amax(top[0], gType, amaxGate, amaxScratch);
    block_amax(top[1], uType, amaxUp, amaxScratch);
}
