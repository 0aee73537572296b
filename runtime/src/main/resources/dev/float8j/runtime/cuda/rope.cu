// Rotary position embedding, "rotate half" pairing: element i of each head with element i + headDim/2.
// At position s the pair turns by s * theta^(-2i/headDim) (sign -1: back, which is the forward's backward).
#include "common.cuh"

struct RopeArgs {
    int seq;       // positions per sequence; row r is at position r % seq
    int heads;     // heads in a row (query or key/value heads)
    int headDim;
    float log2Theta;
    float sign;    // 1 forward, -1 inverse
};

// The angle of pair i at position: position * theta^(-2i/headDim), negated for the inverse.
__device__ __forceinline__ void rope_angle(const RopeArgs& a, int position, int i, float* s, float* c) {
    float frequency = exp2f(-2.0f * i / a.headDim * a.log2Theta);
    sincosf(a.sign * position * frequency, s, c);
}

// Pairs whose angles a block keeps in shared memory: half a head of up to 512 elements.
#define ROPE_MAX_HALF 256

// One block per row of x and y ([rows, heads * headDim]; each F32 or BF16, xType and yType, not overlapping where they
// differ; x's elements times xScale as they are read), its threads over the row's pairs. The
// row's position is fixed, so a pair's angle depends only on its index in the head: the block computes the half
// head's sines and cosines once into shared memory and every head of the row reads them. Computed per element, with
// two pairs per thread step, a query projection's rope took 0.17-0.22 ms in the Llama step on an H100 (1.2-1.6 TB/s);
// this form takes 0.09-0.11 ms (2.4-2.9 TB/s). With headDim / 2 a multiple of 4 and aligned rows,
// each thread turns four adjacent pairs per step with one wide load and store per half. *amax (null: none) gets y's
// absolute maximum (the inverse's y is a projection's gradient, which the projection's backward casts to FP8).
// An F32 x with a scale is the attention backward's dQ accumulator: turned back as it is rounded to BF16, which saves
// the pass that wrote dQ in BF16 for this kernel to read (CudaModelOps.attentionBackwardUnrotated).
extern "C" __global__ void rope(const void* x, int xType, float xScale, void* y, int yType, RopeArgs a, u32* amax) {
    __shared__ u32 amaxScratch[32];
    __shared__ float sines[ROPE_MAX_HALF];
    __shared__ float cosines[ROPE_MAX_HALF];
    u32 m = 0;
    int half = a.headDim / 2;
    int pairs = a.heads * half;
    long rowBase = (long) blockIdx.x * a.heads * a.headDim;
    int position = (int) (blockIdx.x % a.seq);
    if (half <= ROPE_MAX_HALF) {
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            rope_angle(a, position, i, &sines[i], &cosines[i]);
        }
        __syncthreads();
    }
    if (half <= ROPE_MAX_HALF && half % 4 == 0 && aligned16(x, y)) {
        for (int p = 4 * threadIdx.x; p < pairs; p += 4 * blockDim.x) {
            int h = p / half;
            int i = p - h * half;
            long base = rowBase + (long) h * a.headDim;
            float lo[4], hi[4], outLo[4], outHi[4];
            load4(x, (base + i) >> 2, xType, lo);
            load4(x, (base + i + half) >> 2, xType, hi);
            for (int e = 0; e < 4; e++) {
                float s = sines[i + e], c = cosines[i + e];
                lo[e] *= xScale;
                hi[e] *= xScale;
                outLo[e] = lo[e] * c - hi[e] * s;
                outHi[e] = lo[e] * s + hi[e] * c;
                m = max(m, max(abs_bits(outLo[e]), abs_bits(outHi[e])));
            }
            store4(y, (base + i) >> 2, yType, outLo);
            store4(y, (base + i + half) >> 2, yType, outHi);
        }
        block_amax(m, yType, amax, amaxScratch);
        return;
    }
    for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
        int h = p / half;
        int i = p - h * half;
        long base = rowBase + (long) h * a.headDim;
        float s, c;
        if (half <= ROPE_MAX_HALF) {
            s = sines[i];
            c = cosines[i];
        } else {
            rope_angle(a, position, i, &s, &c);
        }
        float lo = load_elem(x, base + i, xType) * xScale;
        float hi = load_elem(x, base + i + half, xType) * xScale;
        float out0 = lo * c - hi * s, out1 = lo * s + hi * c;
        m = max(m, max(abs_bits(out0), abs_bits(out1)));
        store_elem(y, base + i, yType, out0);
        store_elem(y, base + i + half, yType, out1);
    }
    block_amax(m, yType, amax, amaxScratch);
}

// The layout of RopeArgs, as CudaModelOps.java checks it at load time.
extern "C" __global__ void rope_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(RopeArgs);
    LAYOUT_FIELD(RopeArgs, seq); LAYOUT_FIELD(RopeArgs, heads); LAYOUT_FIELD(RopeArgs, headDim);
    LAYOUT_FIELD(RopeArgs, log2Theta); LAYOUT_FIELD(RopeArgs, sign);
}
