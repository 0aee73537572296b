// Rotary position embedding, "rotate half" pairing: element i of each head with element i + headDim/2.
// At position s the pair turns by s * theta^(-2i/headDim) (sign -1: back, which is the forward's backward).
#include "common.cuh"

struct RopeArgs {
    int seq;           // positions per sequence; row r is at position r % seq
    int heads;         // heads in a row (query or key/value heads)
    int headDim;
    float log2Theta;
    float sign;        // 1 forward, -1 inverse
    int rows;          // rows of x and y
    int rowsPerBlock;  // consecutive rows a block takes (see rope)
};

// The angle of pair i at position: position * theta^(-2i/headDim), negated for the inverse.
__device__ __forceinline__ void rope_angle(const RopeArgs& a, int position, int i, float* s, float* c) {
    float frequency = exp2f(-2.0f * i / a.headDim * a.log2Theta);
    sincosf(a.sign * position * frequency, s, c);
}

// Angles a block keeps in shared memory: its rows' half heads (rowsPerBlock * headDim / 2 at most).
#define ROPE_ANGLES 1024
// Four-pair groups a thread of the four-wide path holds at once (all loaded before the angles are computed), and the
// blocks of 256 threads per multiprocessor its registers are bounded for: 64 registers, no spills, twice the bytes in
// flight of one group a thread at 32 (ptxas unbounded gave 76 registers, three blocks).
#define ROPE_GROUPS 4
#define ROPE_BLOCKS 4

// Block b takes rows b * rowsPerBlock onwards of x and y (F32 or BF16, dtype; [rows, heads * headDim]), its threads
// over the rows' pairs. A row's position is fixed, so a pair's angle depends only on the row and its index in the
// head: the block computes each row's half-head of sines and cosines once into shared memory and every head of the
// row reads them. Computed per element, with two pairs per thread step, a query projection's rope took 0.17-0.22 ms in
// the Llama step on an H100 (1.2-1.6 TB/s); with one row a block and the angles first, 0.09-0.11 ms (2.4-2.9 TB/s),
// and a key projection's rows (a quarter as wide) kept half of each block idle. So the host gives a block as many rows
// as make ROPE_GROUPS four-pair groups per thread, and with headDim / 2 a multiple of 4 and aligned rows each thread
// loads all its groups (one wide load per half) before the block computes the angles, so the angles' latency and
// barrier overlap the loads. *amax (null: none) gets y's absolute maximum (the inverse's y is a projection's gradient,
// which the projection's backward casts to FP8).
extern "C" __global__ void __launch_bounds__(256, ROPE_BLOCKS) rope(const void* x, void* y, int dtype, RopeArgs a, u32* amax) {
    __shared__ u32 amaxScratch[32];
    __shared__ float sines[ROPE_ANGLES];
    __shared__ float cosines[ROPE_ANGLES];
    u32 m = 0;
    int half = a.headDim / 2;
    int pairsPerRow = a.heads * half;
    long firstRow = (long) blockIdx.x * a.rowsPerBlock;
    int rows = (int) min((long) a.rowsPerBlock, a.rows - firstRow);
    bool kept = rows * half <= ROPE_ANGLES;  // the angles fit shared memory (else each is computed where used)
    auto angles = [&]() {
        for (int t = threadIdx.x; t < rows * half; t += blockDim.x) {
            int r = t / half;
            rope_angle(a, (int) ((firstRow + r) % a.seq), t - r * half, &sines[t], &cosines[t]);
        }
        __syncthreads();
    };
    if (kept && half % 4 == 0 && aligned16(x, y)) {
        int groupsPerRow = pairsPerRow / 4;
        int groups = rows * groupsPerRow;
        for (int g0 = 0; g0 < groups; g0 += ROPE_GROUPS * blockDim.x) {
            float lo[ROPE_GROUPS][4], hi[ROPE_GROUPS][4];
            long at[ROPE_GROUPS];  // the group's first element in x and y
            int angle[ROPE_GROUPS];  // its first angle in sines and cosines
#pragma unroll
            for (int j = 0; j < ROPE_GROUPS; j++) {
                int g = g0 + j * blockDim.x + threadIdx.x;
                if (g < groups) {
                    int r = g / groupsPerRow;
                    int p = (g - r * groupsPerRow) * 4;
                    int h = p / half;
                    int i = p - h * half;
                    at[j] = (firstRow + r) * (2L * pairsPerRow) + (long) h * a.headDim + i;
                    angle[j] = r * half + i;
                    load4(x, at[j] >> 2, dtype, lo[j]);
                    load4(x, (at[j] + half) >> 2, dtype, hi[j]);
                }
            }
            if (g0 == 0) angles();
#pragma unroll
            for (int j = 0; j < ROPE_GROUPS; j++) {
                int g = g0 + j * blockDim.x + threadIdx.x;
                if (g < groups) {
                    float outLo[4], outHi[4];
                    for (int e = 0; e < 4; e++) {
                        float s = sines[angle[j] + e], c = cosines[angle[j] + e];
                        outLo[e] = lo[j][e] * c - hi[j][e] * s;
                        outHi[e] = lo[j][e] * s + hi[j][e] * c;
                        m = max(m, max(abs_bits(outLo[e]), abs_bits(outHi[e])));
                    }
                    store4(y, at[j] >> 2, dtype, outLo);
                    store4(y, (at[j] + half) >> 2, dtype, outHi);
                }
            }
        }
        block_amax(m, dtype, amax, amaxScratch);
        return;
    }
    if (kept) angles();
    for (int t = threadIdx.x; t < rows * pairsPerRow; t += blockDim.x) {
        int r = t / pairsPerRow;
        int p = t - r * pairsPerRow;
        int h = p / half;
        int i = p - h * half;
        long base = (firstRow + r) * (2L * pairsPerRow) + (long) h * a.headDim;
        float s, c;
        if (kept) {
            s = sines[r * half + i];
            c = cosines[r * half + i];
        } else {
            rope_angle(a, (int) ((firstRow + r) % a.seq), i, &s, &c);
        }
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
    LAYOUT_FIELD(RopeArgs, log2Theta); LAYOUT_FIELD(RopeArgs, sign); LAYOUT_FIELD(RopeArgs, rows);
    LAYOUT_FIELD(RopeArgs, rowsPerBlock);
}
