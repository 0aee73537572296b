// RMSNorm: y = x * inv * gain, inv = 1 / sqrt(mean(x^2) + eps) per row. x and y F32 or BF16, gain F32 [dim].
// The gain's gradient is reduced deterministically: each block of the backward keeps its rows' column sums in
// shared memory and writes them to its own row of a partials workspace; rms_norm_gain_sum then adds the
// partials, in block order, into gradGain.
#include "common.cuh"

// One block per row.
extern "C" __global__ void rms_norm(const void* x, int xType, const float* gain, void* y, float* inverseRms, int dim,
                                    float eps) {
    __shared__ float scratch[32];
    long base = (long) blockIdx.x * dim;
    float sum = 0.0f;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float v = load_elem(x, base + c, xType);
        sum += v * v;
    }
    sum = block_sum(sum, scratch);
    float inv = rsqrtf(sum / dim + eps);
    if (threadIdx.x == 0) inverseRms[blockIdx.x] = inv;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        store_elem(y, base + c, xType, load_elem(x, base + c, xType) * inv * gain[c]);
    }
}

// dx = inv * (dy * gain - xhat * mean(dy * gain * xhat)), xhat = x * inv; dx in x's dtype. Block b handles rows
// b, b + gridDim.x, ...; its gain-gradient column sums (dy * xhat) go to partials[b * dim + c].
// Dynamic shared memory: dim floats.
extern "C" __global__ void rms_norm_backward(const void* dY, int dyType, const void* x, int xType, const float* gain,
                                             const float* inverseRms, void* dX, float* partials, int rows, int dim) {
    extern __shared__ float gainSums[];
    __shared__ float scratch[32];
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
            store_elem(dX, base + c, xType, inv * (dy * gain[c] - xhat * meanDot));
        }
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) partials[(long) blockIdx.x * dim + c] = gainSums[c];
}

// gradGain[c] += sum over b < blocks of partials[b * dim + c], in b order.
extern "C" __global__ void rms_norm_gain_sum(const float* partials, int blocks, int dim, float* gradGain) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= dim) return;
    float sum = 0.0f;
    for (int b = 0; b < blocks; b++) sum += partials[(long) b * dim + c];
    gradGain[c] += sum;
}
