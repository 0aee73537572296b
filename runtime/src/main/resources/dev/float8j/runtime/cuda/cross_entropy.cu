// Fused cross-entropy: the loss and the gradient of the logits from one kernel per row, dlogits =
// (softmax - onehot(target)) / rows. BF16 rows of up to CE_ROW_QUADS * 4 * CE_THREADS classes (the Llama
// benchmark's 32,768) are read from memory once into registers: the row's maximum, then the sum of exp(x - max),
// then the gradient, each from the registers. Other rows are read twice: once to find the log-sum-exp by online
// softmax (running max and rescaled sum, merged across threads), once more (from cache for rows up to a few hundred
// KiB) to write the gradient. Any vocabulary size works. Each row's loss goes to a workspace; cross_entropy_mean adds
// them in a fixed order, so the loss has the same bits every run.
#include "common.cuh"

#define CE_THREADS 512
// Quads of four BF16 logits (8 bytes) each thread holds of a register-resident row: 32 registers, so that two
// blocks fit a multiprocessor and one block's loads overlap the other's arithmetic. The two-pass loop, whose second
// pass found the row evicted from L2 once 500-odd 64 KiB rows were in flight, ran at 1.74 TB/s on an H100.
#define CE_ROW_QUADS 16

// e^x as 2^(x log2 e): a multiply and the special-function unit's ex2, where expf's range reduction takes about ten
// instructions. With two exponentials per logit (the sum, then the gradient) and about 25 instructions per logit in
// all, the kernel was bound by instruction issue (0.92 ms for 16384 x 32768 BF16 logits in the Llama step on an H100,
// 2.3 TB/s). Relative error about 1e-6 over the exponents softmax meets, far inside BF16's 4e-3 and the loss's 2e-5.
__device__ __forceinline__ float exp_fast(float x) {
    return exp2f(x * 1.4426950408889634f);
}

// Maximum of v over the block (CE_THREADS threads); every thread gets it. scratch holds 32 floats of shared memory,
// and the call begins and ends with a barrier, so it may be reused at once. fmaxf skips NaN: a NaN logit still makes
// the row's sum of exponentials, and so its loss, NaN.
__device__ __forceinline__ float block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (int) (threadIdx.x & 31) < CE_THREADS / 32 ? scratch[threadIdx.x & 31] : -__int_as_float(0x7F800000);
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    return v;
}

// Calls f(q, v) for each quad q of the row that this thread holds in raw, v its four logits as floats.
template <class F>
__device__ __forceinline__ void for_each_quad(const BF16x4 (&raw)[CE_ROW_QUADS], int quads, F f) {
#pragma unroll
    for (int j = 0; j < CE_ROW_QUADS; j++) {
        int q = threadIdx.x + j * CE_THREADS;
        if (q < quads) {
            float v[4];
            bf16x4_to_floats(raw[j], v);
            f(q, v);
        }
    }
}

// The register-resident BF16 row of block blockIdx.x (see the top of this file); returns the row's log-sum-exp.
__device__ __forceinline__ float bf16_row_in_registers(const void* logits, int target, void* dLogits, int rows,
                                                       int classes, float* scratch) {
    long q0 = (long) blockIdx.x * classes / 4;
    int quads = classes / 4;
    BF16x4 raw[CE_ROW_QUADS];
    // every load is issued before the first is used, so the whole row is in flight at once
#pragma unroll
    for (int j = 0; j < CE_ROW_QUADS; j++) {
        int q = threadIdx.x + j * CE_THREADS;
        if (q < quads) raw[j] = ((const BF16x4*) logits)[q0 + q];
    }
    float m = -__int_as_float(0x7F800000);
    for_each_quad(raw, quads, [&](int, float* v) { m = fmaxf(fmaxf(m, fmaxf(v[0], v[1])), fmaxf(v[2], v[3])); });
    m = block_max(m, scratch);
    float s = 0.0f;
    for_each_quad(raw, quads, [&](int, float* v) {
        s += (exp_fast(v[0] - m) + exp_fast(v[1] - m)) + (exp_fast(v[2] - m) + exp_fast(v[3] - m));
    });
    float lse = m + logf(block_sum(s, scratch));
    float scale = 1.0f / rows;
    for_each_quad(raw, quads, [&](int q, float* v) {
        for (int e = 0; e < 4; e++) v[e] = (exp_fast(v[e] - lse) - (4 * q + e == target ? 1.0f : 0.0f)) * scale;
        store4(dLogits, q0 + q, DT_BF16, v);
    });
    return lse;
}

// Merges the online-softmax state (m, s) with (m2, s2): the sum of exp(x - max) over both parts.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
    float mx = fmaxf(m, m2);
    if (mx == -__int_as_float(0x7F800000)) return;  // both parts empty
    s = s * exp_fast(m - mx) + s2 * exp_fast(m2 - mx);
    m = mx;
}

// Adds element x to the online-softmax state (m, s). A logit of -Inf adds exp(-Inf) = 0, and is skipped: against a
// state still at m = -Inf, exp(x - m) would be exp(NaN) and make a finite loss NaN. A NaN logit still makes s NaN.
__device__ __forceinline__ void add(float& m, float& s, float x) {
    if (x > m) {
        s = s * exp_fast(m - x) + 1.0f;
        m = x;
    } else if (x != -__int_as_float(0x7F800000)) {
        s += exp_fast(x - m);
    }
}

// One block of CE_THREADS per row; logits and dLogits F32 or BF16 (dtype); rowLoss[r] = lse - logits[target].
// Rows whose length is a multiple of 4, with aligned pointers, are read and written four elements per load and
// store (the element-by-element loops ran at about half the memory's speed on an H100).
extern "C" __global__ void __launch_bounds__(CE_THREADS, 2) cross_entropy(const void* logits, int dtype,
        const int* targets, void* dLogits, float* rowLoss, int rows, int classes) {
    __shared__ float maxes[32], sums[32];
    long base = (long) blockIdx.x * classes;
    bool wide = classes % 4 == 0 && aligned16(logits, dLogits);
    int target = targets[blockIdx.x];
    if (wide && dtype == DT_BF16 && classes <= 4 * CE_ROW_QUADS * CE_THREADS) {
        float lse = bf16_row_in_registers(logits, target, dLogits, rows, classes, maxes);
        if (threadIdx.x == 0) rowLoss[blockIdx.x] = lse - load_elem(logits, base + target, dtype);
        return;
    }
    float m = -__int_as_float(0x7F800000), s = 0.0f;
    if (wide) {
        for (int q = threadIdx.x; q < classes / 4; q += CE_THREADS) {
            float v[4];
            load4(logits, base / 4 + q, dtype, v);
            for (int e = 0; e < 4; e++) add(m, s, v[e]);
        }
    } else {
        for (int c = threadIdx.x; c < classes; c += CE_THREADS) add(m, s, load_elem(logits, base + c, dtype));
    }
    for (int o = 16; o > 0; o >>= 1) {
        merge(m, s, __shfl_xor_sync(0xFFFFFFFFu, m, o), __shfl_xor_sync(0xFFFFFFFFu, s, o));
    }
    if ((threadIdx.x & 31) == 0) {
        maxes[threadIdx.x >> 5] = m;
        sums[threadIdx.x >> 5] = s;
    }
    __syncthreads();
    m = maxes[0];
    s = sums[0];
    for (int w = 1; w < CE_THREADS / 32; w++) merge(m, s, maxes[w], sums[w]);
    float lse = m + logf(s);
    float scale = 1.0f / rows;
    if (wide) {
        for (int q = threadIdx.x; q < classes / 4; q += CE_THREADS) {
            float v[4];
            load4(logits, base / 4 + q, dtype, v);
            for (int e = 0; e < 4; e++) v[e] = (exp_fast(v[e] - lse) - (4 * q + e == target ? 1.0f : 0.0f)) * scale;
            store4(dLogits, base / 4 + q, dtype, v);
        }
    } else {
        for (int c = threadIdx.x; c < classes; c += CE_THREADS) {
            float p = exp_fast(load_elem(logits, base + c, dtype) - lse);
            store_elem(dLogits, base + c, dtype, (p - (c == target ? 1.0f : 0.0f)) * scale);
        }
    }
    if (threadIdx.x == 0) rowLoss[blockIdx.x] = lse - load_elem(logits, base + target, dtype);
}

// loss[0] = mean of rowLoss over rows; one block of 1024 threads, each summing a fixed stride.
extern "C" __global__ void cross_entropy_mean(const float* rowLoss, int rows, float* loss) {
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (int r = threadIdx.x; r < rows; r += blockDim.x) sum += rowLoss[r];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) loss[0] = sum / rows;
}
