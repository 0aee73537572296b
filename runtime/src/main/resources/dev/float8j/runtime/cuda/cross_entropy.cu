// Fused cross-entropy: the loss and the gradient of the logits from one kernel per row. A block reads its row
// once to find the log-sum-exp by online softmax (running max and rescaled sum, merged across threads), then
// writes dlogits = (softmax - onehot(target)) / rows while reading the row again (from cache for rows up to a
// few hundred KiB). Any vocabulary size works. Each row's loss goes to a workspace; cross_entropy_mean adds them
// in a fixed order, so the loss has the same bits every run.
#include "common.cuh"

#define CE_THREADS 512

// Merges the online-softmax state (m, s) with (m2, s2): the sum of exp(x - max) over both parts.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
    float mx = fmaxf(m, m2);
    if (mx == -__int_as_float(0x7F800000)) return;  // both parts empty
    s = s * expf(m - mx) + s2 * expf(m2 - mx);
    m = mx;
}

// Adds element x to the online-softmax state (m, s).
__device__ __forceinline__ void add(float& m, float& s, float x) {
    if (x > m) {
        s = s * expf(m - x) + 1.0f;
        m = x;
    } else {
        s += expf(x - m);
    }
}

// One block of CE_THREADS per row; logits and dLogits F32 or BF16 (dtype); rowLoss[r] = lse - logits[target].
// Rows whose length is a multiple of 4, with aligned pointers, are read and written four elements per load and
// store (the element-by-element loops ran at about half the memory's speed on an H100).
extern "C" __global__ void __launch_bounds__(CE_THREADS) cross_entropy(const void* logits, int dtype,
        const int* targets, void* dLogits, float* rowLoss, int rows, int classes) {
    __shared__ float maxes[32], sums[32];
    long base = (long) blockIdx.x * classes;
    bool wide = classes % 4 == 0 && aligned16(logits, dLogits);
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
    int target = targets[blockIdx.x];
    float scale = 1.0f / rows;
    if (wide) {
        for (int q = threadIdx.x; q < classes / 4; q += CE_THREADS) {
            float v[4];
            load4(logits, base / 4 + q, dtype, v);
            for (int e = 0; e < 4; e++) v[e] = (expf(v[e] - lse) - (4 * q + e == target ? 1.0f : 0.0f)) * scale;
            store4(dLogits, base / 4 + q, dtype, v);
        }
    } else {
        for (int c = threadIdx.x; c < classes; c += CE_THREADS) {
            float p = expf(load_elem(logits, base + c, dtype) - lse);
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
