// The optimizer's kernels: the global squared gradient norm (partial sums per tensor, then one fixed-order sum,
// so the same bits every run) and AdamW, which reads the clipping factor from that device scalar itself, and the
// guard that skips the update on a NaN or Inf loss or norm, so the host need not read them before queuing it.
#include "common.cuh"
#include "lines.cuh"

// partials[blockIdx.x] = the sum of squares of this block's grid-stride share of x (F32 or BF16). Any grid; the
// caller sizes it to the tensor and the device, and gives each tensor its own run of partials.
// A length that is a multiple of 4 (with x aligned) is read four elements per load: one element per load ran at
// 1.3 TB/s on an H100.
extern "C" __global__ void sum_squares_partial(const void* x, int dtype, long n, float* partials) {
    __shared__ float scratch[32];
    float sum = 0.0f;
    long stride = (long) gridDim.x * blockDim.x;
    if (n % 4 == 0 && aligned16(x)) {
        for (long q = blockIdx.x * (long) blockDim.x + threadIdx.x; q < n / 4; q += stride) {
            float v[4];
            load4(x, q, dtype, v);
            sum += v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
        }
    } else {
        for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += stride) {
            float v = load_elem(x, i, dtype);
            sum += v * v;
        }
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
    const float* guardLoss;     // null: no guard; else the update writes only if it and *sumOfSquares are finite,
    const u32* castFaults;      // and no cast since the host's last check met NaN or Inf (CastFaults: 0xFFFFFFFF)
};

// One AdamW update of one element (g already clipped).
__device__ __forceinline__ void adamw_update(float& w, float g, float& m, float& v, const AdamWArgs& a) {
    m = a.beta1 * m + (1.0f - a.beta1) * g;
    v = a.beta2 * v + (1.0f - a.beta2) * g * g;
    w = w - a.learningRate * ((m / a.correction1) / (sqrtf(v / a.correction2) + a.eps) + a.weightDecay * w);
}

// The factor g' = g * clip of global-norm clipping (1 without).
__device__ __forceinline__ float adamw_clip(const AdamWArgs& a) {
    return a.sumOfSquares == nullptr ? 1.0f : fminf(1.0f, a.maxNorm / (sqrtf(a.sumOfSquares[0]) + 1e-6f));
}

// Whether the update writes: always unguarded, else only with a finite loss and sum of squares and no cast fault.
__device__ __forceinline__ bool adamw_updates(const AdamWArgs& a) {
    return a.guardLoss == nullptr
            || (isfinite(a.guardLoss[0]) && (a.sumOfSquares == nullptr || isfinite(a.sumOfSquares[0]))
                && a.castFaults[0] == 0xFFFFFFFFu);
}

// One AdamW step over quads (16-byte aligned arrays; see over_lines in lines.cuh), each gradient times clip; update
// false: nothing is written. It loads and finishes a quad at once (Raw is empty): its 16-byte loads of four arrays
// keep enough in flight, and holding four quads of them would cost the registers of two resident blocks.
// GRAD_TYPE is the gradient's dtype as a template argument: read through a runtime branch, adamw_lines spilled at its
// 64-register bound.
template <int GRAD_TYPE>
struct AdamWQuads {
    float* param; const void* grad; float* expAvg; float* expAvgSq; const AdamWArgs& a; float clip; bool update;
    struct Raw {};
    __device__ __forceinline__ void load(long, Raw&) const {}
    // w gets the weights as they now stand
    __device__ __forceinline__ void finish(long q, const Raw&, float (&w)[1][4]) const {
        F32x4 p = ((F32x4*) param)[q];
        if (update) {
            float g[4];
            load4(grad, q, GRAD_TYPE, g);
            F32x4 m = ((F32x4*) expAvg)[q], v = ((F32x4*) expAvgSq)[q];
            adamw_update(p.x, g[0] * clip, m.x, v.x, a);
            adamw_update(p.y, g[1] * clip, m.y, v.y, a);
            adamw_update(p.z, g[2] * clip, m.z, v.z, a);
            adamw_update(p.w, g[3] * clip, m.w, v.w, a);
            ((F32x4*) param)[q] = p;
            ((F32x4*) expAvg)[q] = m;
            ((F32x4*) expAvgSq)[q] = v;
        }
        w[0][0] = p.x; w[0][1] = p.y; w[0][2] = p.z; w[0][3] = p.w;
    }
};

// adamw's grid-stride loop over quads 0..count-1; returns the thread's largest |updated weight| as bits.
template <class Quads>
__device__ __forceinline__ u32 adamw_quads(const Quads& quads, long count) {
    u32 top = 0;
    for (long q = blockIdx.x * (long) blockDim.x + threadIdx.x; q < count; q += (long) gridDim.x * blockDim.x) {
        float w[1][4];
        quads.finish(q, typename Quads::Raw{}, w);
        top = max(top, max(max(abs_bits(w[0][0]), abs_bits(w[0][1])), max(abs_bits(w[0][2]), abs_bits(w[0][3]))));
    }
    return top;
}

// One AdamW step on n elements (param and moments F32, the gradient F32 or BF16, gradType):
// g' = g * min(1, maxNorm / (sqrt(sumOfSquares) + 1e-6)),
// m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2, w -= lr ((m / c1) / (sqrt(v / c2) + eps) + wd w).
// Four elements per load where the arrays are 16-byte aligned (device buffers are): the step reads 16 (14 with a
// BF16 gradient) and writes 12 bytes per parameter, so it runs at the memory's speed or not at all. *amax (null: none) gets the updated
// parameter's absolute maximum: the tensorwise FP8 cast of the weight in the next forward then need not read it twice.
// A guarded update (a.guardLoss) whose loss or sum of squares is NaN or Inf, or that follows a cast which met NaN or
// Inf (its saturated codes can leave both finite; the host hears of it only at its next wait), writes nothing to
// param and the moments, but still reports the maxima, of the weight as it stays: the next cast reads them all the same.
extern "C" __global__ void adamw(float* param, const void* grad, int gradType, float* expAvg, float* expAvgSq, long n,
                                 AdamWArgs a, u32* amax) {
    __shared__ u32 amaxScratch[32];
    u32 top = 0;
    float clip = adamw_clip(a);
    bool update = adamw_updates(a);
    long stride = (long) gridDim.x * blockDim.x;
    long first = 0;
    if (aligned16(param, grad, expAvg, expAvgSq)) {
        if (gradType == DT_F32) {
            top = adamw_quads(AdamWQuads<DT_F32>{param, grad, expAvg, expAvgSq, a, clip, update}, n / 4);
        } else {
            top = adamw_quads(AdamWQuads<DT_BF16>{param, grad, expAvg, expAvgSq, a, clip, update}, n / 4);
        }
        first = n / 4 * 4;
    }
    for (long i = first + blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += stride) {
        float w = param[i];
        if (update) {
            float m = expAvg[i], v = expAvgSq[i];
            adamw_update(w, load_elem(grad, i, gradType) * clip, m, v, a);
            param[i] = w;
            expAvg[i] = m;
            expAvgSq[i] = v;
        }
        top = max(top, abs_bits(w));
    }
    block_amax(top, DT_F32, amax, amaxScratch);
}

// adamw over a rows x cols parameter (cols % 4 == 0, arrays 16-byte aligned) that also reports its row and column
// maxima into lines (lines.cuh; its grid), for the rowwise casts of the weight in the next forward and backward. A
// kernel of its own, as swiglu_lines is, and one per gradient dtype: with the dtype a runtime branch, as adamw has it,
// the kernel spilled at its 64-register bound.
template <int GRAD_TYPE>
__device__ __forceinline__ void adamw_lines_of(float* param, const void* grad, float* expAvg, float* expAvgSq,
        long rows, int cols, const AdamWArgs& a, u32* amax, u32* lines) {
    __shared__ u32 amaxScratch[32];
    float clip = adamw_clip(a);
    bool update = adamw_updates(a);
    u32* const out[1] = {lines};
    const int types[1] = {DT_F32};
    u32 top[1] = {0};
    over_lines<1>(rows, cols, out, types, top, AdamWQuads<GRAD_TYPE>{param, grad, expAvg, expAvgSq, a, clip, update});
    block_amax(top[0], DT_F32, amax, amaxScratch);
}

extern "C" __global__ void __launch_bounds__(LINE_THREADS, 4) adamw_lines(float* param, const float* grad,
        float* expAvg, float* expAvgSq, long rows, int cols, AdamWArgs a, u32* amax, u32* lines) {
    adamw_lines_of<DT_F32>(param, grad, expAvg, expAvgSq, rows, cols, a, amax, lines);
}

// adamw_lines for a BF16 gradient.
extern "C" __global__ void __launch_bounds__(LINE_THREADS, 4) adamw_lines_bf16_grad(float* param, const u16* grad,
        float* expAvg, float* expAvgSq, long rows, int cols, AdamWArgs a, u32* amax, u32* lines) {
    adamw_lines_of<DT_BF16>(param, grad, expAvg, expAvgSq, rows, cols, a, amax, lines);
}

// The layout of AdamWArgs, as CudaOptimizerOps.java checks it at load time.
extern "C" __global__ void optimizer_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(AdamWArgs);
    LAYOUT_FIELD(AdamWArgs, learningRate); LAYOUT_FIELD(AdamWArgs, beta1); LAYOUT_FIELD(AdamWArgs, beta2);
    LAYOUT_FIELD(AdamWArgs, eps); LAYOUT_FIELD(AdamWArgs, weightDecay); LAYOUT_FIELD(AdamWArgs, correction1);
    LAYOUT_FIELD(AdamWArgs, correction2); LAYOUT_FIELD(AdamWArgs, maxNorm); LAYOUT_FIELD(AdamWArgs, sumOfSquares);
    LAYOUT_FIELD(AdamWArgs, guardLoss); LAYOUT_FIELD(AdamWArgs, castFaults);
}
