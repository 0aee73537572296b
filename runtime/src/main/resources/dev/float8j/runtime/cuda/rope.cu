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

struct alignas(8) F32x2 { float x, y; };

// Elements i and i + 1 of an F32 or BF16 array (i even, the array 8-byte aligned), in one load or store.
__device__ __forceinline__ void load2(const void* p, long i, int dtype, float* v) {
    if (dtype == DT_F32) {
        F32x2 w = ((const F32x2*) p)[i >> 1];
        v[0] = w.x;
        v[1] = w.y;
    } else {
        u32 w = ((const u32*) p)[i >> 1];
        v[0] = __uint_as_float(w << 16);
        v[1] = __uint_as_float(w & 0xFFFF0000u);
    }
}

__device__ __forceinline__ void store2(void* p, long i, int dtype, float v0, float v1) {
    if (dtype == DT_F32) {
        F32x2 w = {v0, v1};
        ((F32x2*) p)[i >> 1] = w;
    } else {
        ((u32*) p)[i >> 1] = (u32) bf16_from_float(v0) | (u32) bf16_from_float(v1) << 16;
    }
}

// One block per row of x and y (F32 or BF16, dtype; [rows, heads * headDim]), its threads over the row's pairs: the
// position and row offset are computed once per block, not divided out of a flat pair index per element (64-bit
// divisions made the flat version about three times slower than the memory). With an even headDim / 2 and aligned
// rows each thread turns two adjacent pairs per step with one load and one store per half. *amax (null: none) gets
// y's absolute maximum (the inverse's y is a projection's gradient, which the projection's backward casts to FP8).
extern "C" __global__ void rope(const void* x, void* y, int dtype, RopeArgs a, u32* amax) {
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    int half = a.headDim / 2;
    int pairs = a.heads * half;
    long rowBase = (long) blockIdx.x * a.heads * a.headDim;
    int position = (int) (blockIdx.x % a.seq);
    if (half % 2 == 0 && (((unsigned long long) x | (unsigned long long) y) & 7) == 0) {
        for (int p = 2 * threadIdx.x; p < pairs; p += 2 * blockDim.x) {
            int h = p / half;
            int i = p - h * half;
            long base = rowBase + (long) h * a.headDim;
            float s0, c0, s1, c1, lo[2], hi[2];
            rope_angle(a, position, i, &s0, &c0);
            rope_angle(a, position, i + 1, &s1, &c1);
            load2(x, base + i, dtype, lo);
            load2(x, base + i + half, dtype, hi);
            float out[4] = {lo[0] * c0 - hi[0] * s0, lo[1] * c1 - hi[1] * s1, lo[0] * s0 + hi[0] * c0,
                             lo[1] * s1 + hi[1] * c1};
            for (int e = 0; e < 4; e++) m = max(m, abs_bits(out[e]));
            store2(y, base + i, dtype, out[0], out[1]);
            store2(y, base + i + half, dtype, out[2], out[3]);
        }
        block_amax(m, dtype, amax, amaxScratch);
        return;
    }
    for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
        int h = p / half;
        int i = p - h * half;
        long base = rowBase + (long) h * a.headDim;
        float s, c;
        rope_angle(a, position, i, &s, &c);
        float lo = load_elem(x, base + i, dtype);
        float hi = load_elem(x, base + i + half, dtype);
        float out0 = lo * c - hi * s, out1 = lo * s + hi * c;
        m = max(m, max(abs_bits(out0), abs_bits(out1)));
        store_elem(y, base + i, dtype, out0);
        store_elem(y, base + i + half, dtype, out1);
    }
    block_amax(m, dtype, amax, amaxScratch);
}

// The layout of RopeArgs, as CudaModelOps.java checks it at load time.
extern "C" __global__ void rope_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(RopeArgs);
    LAYOUT_FIELD(RopeArgs, seq); LAYOUT_FIELD(RopeArgs, heads); LAYOUT_FIELD(RopeArgs, headDim);
    LAYOUT_FIELD(RopeArgs, log2Theta); LAYOUT_FIELD(RopeArgs, sign);
}
