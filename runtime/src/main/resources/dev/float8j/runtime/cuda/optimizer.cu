// The optimizer's kernels: the global squared gradient norm (partial sums per tensor, then one fixed-order sum,
// so the same bits every run) and AdamW, which reads the clipping factor from that device scalar itself.
#include "common.cuh"

#define SUMSQ_BLOCKS 64
#define SUMSQ_THREADS 256

// partials[blockIdx.x] = the sum of squares of this block's grid-stride share of x (F32 or BF16).
// Launched with SUMSQ_BLOCKS blocks of SUMSQ_THREADS threads.
extern "C" __global__ void sum_squares_partial(const void* x, int dtype, long n, float* partials) {
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float v = load_elem(x, i, dtype);
        sum += v * v;
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// out[0] = the sum of count partials; one block of 1024 threads.
extern "C" __global__ void sum_squares_total(const float* partials, int count, float* out) {
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) out[0] = sum;
}

struct AdamWArgs {
    float learningRate;
    float beta1;
    float beta2;
    float eps;
    float weightDecay;
    float correction1;          // 1 - beta1^step
    float correction2;          // 1 - beta2^step
    float maxNorm;
    const float* sumOfSquares;  // null: no clipping
};

// One AdamW step on n elements (all F32): g' = g * min(1, maxNorm / (sqrt(sumOfSquares) + 1e-6)),
// m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2, w -= lr ((m / c1) / (sqrt(v / c2) + eps) + wd w).
extern "C" __global__ void adamw(float* param, const float* grad, float* expAvg, float* expAvgSq, long n, AdamWArgs a) {
    float clip = 1.0f;
    if (a.sumOfSquares != nullptr) clip = fminf(1.0f, a.maxNorm / (sqrtf(a.sumOfSquares[0]) + 1e-6f));
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float g = grad[i] * clip;
        float m = a.beta1 * expAvg[i] + (1.0f - a.beta1) * g;
        float v = a.beta2 * expAvgSq[i] + (1.0f - a.beta2) * g * g;
        expAvg[i] = m;
        expAvgSq[i] = v;
        float w = param[i];
        param[i] = w - a.learningRate * ((m / a.correction1) / (sqrtf(v / a.correction2) + a.eps) + a.weightDecay * w);
    }
}

// The layout of AdamWArgs, as CudaModelOps.java checks it at load time.
extern "C" __global__ void optimizer_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(AdamWArgs);
    LAYOUT_FIELD(AdamWArgs, learningRate); LAYOUT_FIELD(AdamWArgs, beta1); LAYOUT_FIELD(AdamWArgs, beta2);
    LAYOUT_FIELD(AdamWArgs, eps); LAYOUT_FIELD(AdamWArgs, weightDecay); LAYOUT_FIELD(AdamWArgs, correction1);
    LAYOUT_FIELD(AdamWArgs, correction2); LAYOUT_FIELD(AdamWArgs, maxNorm); LAYOUT_FIELD(AdamWArgs, sumOfSquares);
}
