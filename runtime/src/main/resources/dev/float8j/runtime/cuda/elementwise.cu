// Element-by-element ops of a transformer: residual add, SwiGLU forward and backward, gradient accumulation, and a
// gemm's bias (added to its F32 result; its gradient as column sums). SwiGLU's kernels also report their outputs'
// absolute maxima, which the tensorwise FP8 casts of the next gemm read instead of passing over the tensor again.
// Tensors are F32 or BF16 (DT_F32, DT_BF16), math is F32; each kernel but column_sums is a grid-stride loop over
// n elements.
#include "common.cuh"

#define GRID_STRIDE(i, n) GRID_STRIDE_FROM(i, 0, n)
// elements first..n-1: what the four-wide loop of add and swiglu left (all of it when a pointer is unaligned)
#define GRID_STRIDE_FROM(i, first, n) \
    for (long i = (first) + blockIdx.x * (long) blockDim.x + threadIdx.x; i < (n); i += (long) gridDim.x * blockDim.x)

// into[i] += g[i] for n elements; into is F32, g F32 or BF16 (gType). Gradient accumulation.
extern "C" __global__ void add_into(float* into, const void* g, long n, int gType) {
    GRID_STRIDE(i, n) {
        into[i] += load_elem(g, i, gType);
    }
}

// out[r][c] = in[r][c] + bias[c] for a row-major rows x cols F32 matrix, written in outType: F32 (out may be in)
// or BF16 (rounded to nearest even once, after the F32 add). Used where cuBLASLt's bias epilogue takes no F32 bias
// for a gemm: the gemm writes F32 and this adds the bias.
extern "C" __global__ void add_bias(const float* in, const float* bias, long rows, int cols, void* out, int outType) {
    GRID_STRIDE(i, rows * cols) {
        store_elem(out, i, outType, in[i] + bias[i % cols]);
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

// h = silu(gate) * up, silu(g) = g * sigmoid(g); h in gate's dtype, *amax (null: none) its absolute maximum. Four
// elements per load where the pointers allow it.
extern "C" __global__ void swiglu(const void* gate, int gType, const void* up, int uType, void* h, long n, u32* amax) {
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    long first = 0;
    if (aligned16(gate, up, h)) {
        GRID_STRIDE(q, n / 4) {
            float g[4], u[4];
            load4(gate, q, gType, g);
            load4(up, q, uType, u);
            for (int j = 0; j < 4; j++) {
                g[j] = g[j] * sigmoid(g[j]) * u[j];
                m = max(m, abs_bits(g[j]));
            }
            store4(h, q, gType, g);
        }
        first = n / 4 * 4;
    }
    GRID_STRIDE_FROM(i, first, n) {
        float g = load_elem(gate, i, gType);
        float out = g * sigmoid(g) * load_elem(up, i, uType);
        m = max(m, abs_bits(out));
        store_elem(h, i, gType, out);
    }
    block_amax(m, gType, amax, amaxScratch);
}

// dGate = dH * up * silu'(gate), silu'(g) = s + g s (1 - s); dUp = dH * silu(gate). Each in its input's dtype.
__device__ __forceinline__ void swiglu_grads(float dh, float g, float u, float& dGate, float& dUp) {
    float s = sigmoid(g);
    dGate = dh * u * (s + g * s * (1.0f - s));
    dUp = dh * g * s;
}

// *amaxGate and *amaxUp (null: none) get dGate's and dUp's absolute maxima.
extern "C" __global__ void swiglu_backward(const void* dH, int dhType, const void* gate, int gType, const void* up,
                                           int uType, void* dGate, void* dUp, long n, u32* amaxGate, u32* amaxUp) {
    __shared__ u32 amaxScratch[32];
    u32 mGate = 0, mUp = 0;
    long first = 0;
    if (aligned16(dH, gate, up, dGate, dUp)) {
        GRID_STRIDE(q, n / 4) {
            float dh[4], g[4], u[4], dg[4], du[4];
            load4(dH, q, dhType, dh);
            load4(gate, q, gType, g);
            load4(up, q, uType, u);
            for (int j = 0; j < 4; j++) {
                swiglu_grads(dh[j], g[j], u[j], dg[j], du[j]);
                mGate = max(mGate, abs_bits(dg[j]));
                mUp = max(mUp, abs_bits(du[j]));
            }
            store4(dGate, q, gType, dg);
            store4(dUp, q, uType, du);
        }
        first = n / 4 * 4;
    }
    GRID_STRIDE_FROM(i, first, n) {
        float dg, du;
        swiglu_grads(load_elem(dH, i, dhType), load_elem(gate, i, gType), load_elem(up, i, uType), dg, du);
        mGate = max(mGate, abs_bits(dg));
        mUp = max(mUp, abs_bits(du));
        store_elem(dGate, i, gType, dg);
        store_elem(dUp, i, uType, du);
    }
    block_amax(mGate, gType, amaxGate, amaxScratch);
    block_amax(mUp, uType, amaxUp, amaxScratch);
}
