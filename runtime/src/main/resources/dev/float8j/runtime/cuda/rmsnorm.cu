// RMSNorm: y = x * inv * gain, inv = 1 / sqrt(mean(x^2) + eps) per row. x and y F32 or BF16, gain F32 [dim].
// The gain's gradient is reduced deterministically: each block of the backward keeps its rows' column sums in
// shared memory and writes them to its own row of a partials workspace; rms_norm_gain_sum then adds the
// partials, in block order, into gradGain.
#include "common.cuh"

// Rows of up to 4 * ROW_VECTORS * blockDim.x elements (a multiple of 4, all pointers 16-byte aligned) are held in
// registers, four elements per vector, so each is read from memory once and with wide loads; the element-by-element
// loops, which read a row twice with 2-byte loads, ran at about half the memory's speed on an H100.
#define ROW_VECTORS 8

// Whether rows of dim elements fit vectors of 4 per thread in registers, and every pointer allows 16-byte accesses.
__device__ __forceinline__ bool rows_in_registers(int dim, int vectors, const void* a, const void* b, const void* c,
                                                  const void* d = 0, const void* e = 0) {
    return dim % 4 == 0 && dim <= 4 * vectors * (int) blockDim.x && aligned16(a, b, c, d, e);
}

// One block per row; *amax (null: none) gets y's absolute maximum.
extern "C" __global__ void rms_norm(const void* x, int xType, const float* gain, void* y, float* inverseRms, int dim,
                                    float eps, u32* amax) {
    __shared__ float scratch[32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    long base = (long) blockIdx.x * dim;
    float sum = 0.0f;
    if (rows_in_registers(dim, ROW_VECTORS, x, y, gain)) {
        float v[ROW_VECTORS][4];
        long q0 = base / 4;
#pragma unroll
        for (int j = 0; j < ROW_VECTORS; j++) {
            int q = threadIdx.x + j * blockDim.x;
            if (q < dim / 4) {
                load4(x, q0 + q, xType, v[j]);
                sum += v[j][0] * v[j][0] + v[j][1] * v[j][1] + v[j][2] * v[j][2] + v[j][3] * v[j][3];
            }
        }
        sum = block_sum(sum, scratch);
        float inv = rsqrtf(sum / dim + eps);
        if (threadIdx.x == 0) inverseRms[blockIdx.x] = inv;
#pragma unroll
        for (int j = 0; j < ROW_VECTORS; j++) {
            int q = threadIdx.x + j * blockDim.x;
            if (q < dim / 4) {
                float g[4], out[4];
                load4(gain, q, DT_F32, g);
                for (int e = 0; e < 4; e++) {
                    out[e] = v[j][e] * inv * g[e];
                    m = max(m, abs_bits(out[e]));
                }
                store4(y, q0 + q, xType, out);
            }
        }
        block_amax(m, xType, amax, amaxScratch);
        return;
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float v = load_elem(x, base + c, xType);
        sum += v * v;
    }
    sum = block_sum(sum, scratch);
    float inv = rsqrtf(sum / dim + eps);
    if (threadIdx.x == 0) inverseRms[blockIdx.x] = inv;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float out = load_elem(x, base + c, xType) * inv * gain[c];
        m = max(m, abs_bits(out));
        store_elem(y, base + c, xType, out);
    }
    block_amax(m, xType, amax, amaxScratch);
}

// The backward keeps fewer vectors per thread (rows of up to 4 * BACKWARD_ROW_VECTORS * blockDim.x elements) so that
// x, dY and the gain-gradient sums all stay in registers and three blocks fit a multiprocessor: with eight vectors
// and the sums in shared memory (4-way bank conflicts) it ran at the speed of the element-by-element loop.
#define BACKWARD_ROW_VECTORS 4

// What the backward writes for dx at element i: dx, or residual[i] + dx rounded to x's dtype.
__device__ __forceinline__ float norm_grad_out(float dx, int xType, const void* residual, long i, int outType) {
    return residual == nullptr ? dx : load_elem(residual, i, outType) + as_stored(dx, xType);
}

// dx = inv * (dy * gain - xhat * mean(dy * gain * xhat)), xhat = x * inv, rounded to x's dtype. dX = dx, or with a
// residual (of dtype outType) dX = residual + dx in outType: a pre-norm block's backward, where the residual path's
// gradient meets the norm's, in one pass instead of a separate add (the same bits as that add). Block b handles rows
// b, b + gridDim.x, ...; its gain-gradient column sums (dy * xhat) go to partials[b * dim + c]. *amax (null: none)
// gets dX's absolute maximum.
// Dynamic shared memory: dim floats (the element-by-element path's column sums).
extern "C" __global__ void rms_norm_backward(const void* dY, int dyType, const void* x, int xType, const float* gain,
                                             const float* inverseRms, const void* residual, int outType, void* dX,
                                             float* partials, int rows, int dim, u32* amax) {
    extern __shared__ float gainSums[];
    __shared__ float scratch[32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    if (rows_in_registers(dim, BACKWARD_ROW_VECTORS, dY, x, gain, dX, partials) && aligned16(residual)) {
        // thread t owns vectors t + j * blockDim.x of every row: its gain sums stay in its registers
        float sums[BACKWARD_ROW_VECTORS][4] = {};
        for (int r = blockIdx.x; r < rows; r += gridDim.x) {
            long q0 = (long) r * dim / 4;
            float inv = inverseRms[r];
            float xs[BACKWARD_ROW_VECTORS][4], dys[BACKWARD_ROW_VECTORS][4];
            float dot = 0.0f;
#pragma unroll
            for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
                int q = threadIdx.x + j * blockDim.x;
                if (q < dim / 4) {
                    float g[4];
                    load4(x, q0 + q, xType, xs[j]);
                    load4(dY, q0 + q, dyType, dys[j]);
                    load4(gain, q, DT_F32, g);
                    for (int e = 0; e < 4; e++) {
                        float xhat = xs[j][e] * inv;
                        dot += dys[j][e] * g[e] * xhat;
                        sums[j][e] += dys[j][e] * xhat;
                    }
                }
            }
            float meanDot = block_sum(dot, scratch) / dim;
#pragma unroll
            for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
                int q = threadIdx.x + j * blockDim.x;
                if (q < dim / 4) {
                    float g[4], out[4], r[4];
                    load4(gain, q, DT_F32, g);
                    if (residual != nullptr) load4(residual, q0 + q, outType, r);
                    for (int e = 0; e < 4; e++) {
                        out[e] = inv * (dys[j][e] * g[e] - xs[j][e] * inv * meanDot);
                        if (residual != nullptr) out[e] = r[e] + as_stored(out[e], xType);
                        m = max(m, abs_bits(out[e]));
                    }
                    store4(dX, q0 + q, outType, out);
                }
            }
        }
#pragma unroll
        for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
            int q = threadIdx.x + j * blockDim.x;
            if (q < dim / 4) store4(partials, (long) blockIdx.x * dim / 4 + q, DT_F32, sums[j]);
        }
        block_amax(m, outType, amax, amaxScratch);
        return;
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) gainSums[c] = 0.0f;
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        long base = (long) r * dim;
        float inv = inverseRms[r];
        float dot = 0.0f;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float xhat = load_elem(x, base + c, xType) * inv;
            float dy = load_elem(dY, base + c, dyType);
            dot += dy * gain[c] * xhat;
            gainSums[c] += dy * xhat;  // column c belongs to this thread alone
        }
        float meanDot = block_sum(dot, scratch) / dim;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float xhat = load_elem(x, base + c, xType) * inv;
            float dy = load_elem(dY, base + c, dyType);
            float out = norm_grad_out(inv * (dy * gain[c] - xhat * meanDot), xType, residual, base + c, outType);
            m = max(m, abs_bits(out));
            store_elem(dX, base + c, outType, out);
        }
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) partials[(long) blockIdx.x * dim + c] = gainSums[c];
    block_amax(m, outType, amax, amaxScratch);
}

// gradGain[c] += sum over b < blocks of partials[b * dim + c], in b order.
extern "C" __global__ void rms_norm_gain_sum(const float* partials, int blocks, int dim, float* gradGain) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= dim) return;
    float sum = 0.0f;
    for (int b = 0; b < blocks; b++) sum += partials[(long) b * dim + c];
    gradGain[c] += sum;
}
