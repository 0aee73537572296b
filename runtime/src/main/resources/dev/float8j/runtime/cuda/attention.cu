// Fused causal self-attention in BF16 with grouped-query heads, forward and backward, compiled at run time by
// NVRTC (no headers needed). Flash-attention style: the seq x seq scores live only in registers, tile by tile.
//
// Layouts (row-major, BF16 unless said): q, out, dOut, dq [batch*seq][heads*D]; k, v, dk, dv
// [batch*seq][kvHeads*D]; lse and the backward's rowsum(dOut*out) [batch*heads][seq] F32. Query head h reads
// kv head h / (heads / kvHeads). Scores are scaled by 1/sqrt(D) and masked causally (key > query).
//
// Matrix products run on the tensor cores with mma.sync m16n8k16 (BF16 in, F32 accumulate), operands read
// from shared memory by ldmatrix. Shared-memory tiles are rows of D BF16 values; the 16-byte chunk c of row r
// is stored at chunk c ^ (r & 7), so that the 8 rows one ldmatrix phase reads fall in 8 different bank groups.
//
// Fragment layouts of m16n8k16 (lane = 4 * g + t): A (16x16, row-major) regs {a0,a1,a2,a3} hold rows
// (g, g+8, g, g+8) x columns (2t..2t+1, 2t..2t+1, 2t+8.., 2t+8..); B (16x8, k x n) regs {b0,b1} hold k
// 2t..2t+1 and 2t+8..2t+9 of column g; C (16x8) holds rows g (c0, c1) and g+8 (c2, c3) at columns 2t, 2t+1.
// A C fragment converted to BF16 is therefore an A fragment of the next product (P @ V without shared memory).

typedef unsigned short u16;
typedef unsigned int u32;

#define NEG_INF __int_as_float(0xFF800000)
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// Forward: 128 query rows per block, 8 warps of 16 rows; keys in tiles of 64, double-buffered.
#define FWD_WARPS 8
#define FWD_M (16 * FWD_WARPS)
// Backward: 64 keys per block (4 warps of 16 keys); query tiles of 64, double-buffered.
#define BWD_WARPS 4
#define BWD_M 64
#define TILE_N 64

__device__ __forceinline__ u32 smem_addr(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// Byte offset of element column `col` (a multiple of 8) of row `row` in a swizzled tile of D columns.
template <int D>
__device__ __forceinline__ u32 swz(int row, int col) {
    return (u32) (row * (D * 2) + ((((col >> 3) ^ (row & 7))) << 4));
}

// 16-byte asynchronous copy global -> shared; when !valid the destination is zero-filled (src not read).
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_async4(u32 dst, const void* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldsm_x4(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_t(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

// c += a @ b for one m16n8k16 tile.
__device__ __forceinline__ void mma(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Atomic p[0] += x, p[1] += y: one 8-byte vector reduction on sm_90 (p 8-byte aligned), two scalar ones before.
__device__ __forceinline__ void red_add2(float* p, float x, float y) {
#if __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(x), "f"(y) : "memory");
#else
    atomicAdd(p, x);
    atomicAdd(p + 1, y);
#endif
}

// Two floats to a BF16 pair (round to nearest even), lo in the low half.
__device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

__device__ __forceinline__ float bf16_lo(u32 x) { return __uint_as_float(x << 16); }
__device__ __forceinline__ float bf16_hi(u32 x) { return __uint_as_float(x & 0xFFFF0000u); }

// Starts copying rows [row0, row0 + ROWS) of a D-column slice (row stride ld elements) into a swizzled tile;
// rows at or past `rows` are zero-filled.
template <int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_tile(u32 tile, const u16* src, int ld, int row0, int rows) {
    constexpr int CHUNKS = D / 8;
#pragma unroll
    for (int i = threadIdx.x; i < ROWS * CHUNKS; i += THREADS) {
        int r = i / CHUNKS, c = i % CHUNKS;
        bool valid = row0 + r < rows;
        const u16* p = valid ? src + (long long) (row0 + r) * ld + c * 8 : src;
        cp_async16(tile + swz<D>(r, c * 8), p, valid);
    }
}

// A fragment (16 rows x 16 columns starting at row0, col0) of a swizzled row-major tile.
template <int D>
__device__ __forceinline__ void load_a(u32 tile, int row0, int col0, int lane, u32* a) {
    ldsm_x4(tile + swz<D>(row0 + (lane & 15), col0 + (lane >> 4) * 8), a[0], a[1], a[2], a[3]);
}

// B fragments of two adjacent n-blocks (16 columns n0..n0+15 of B, k0..k0+15 of K) where the tile holds B
// transposed (tile row = n, tile column = k), as K does in Q @ K^T: {b[0], b[1]} for n0, {b[2], b[3]} for n0+8.
template <int D>
__device__ __forceinline__ void load_b_nk(u32 tile, int n0, int k0, int lane, u32* b) {
    ldsm_x4(tile + swz<D>(n0 + (lane & 7) + ((lane >> 4) << 3), k0 + ((lane >> 3) & 1) * 8), b[0], b[1], b[2], b[3]);
}

// The same for a tile that holds B as is (tile row = k, tile column = n), as V does in P @ V.
template <int D>
__device__ __forceinline__ void load_b_kn(u32 tile, int k0, int n0, int lane, u32* b) {
    ldsm_x4_t(tile + swz<D>(k0 + (lane & 7) + ((lane >> 3) & 1) * 8, n0 + (lane >> 4) * 8), b[0], b[1], b[2], b[3]);
}

// ---------------------------------------------------------------------------------------------- forward

// Grid (ceil(seq / FWD_M), batch * heads), FWD_WARPS * 32 threads; dynamic shared memory: Q tile, then two
// stages of (K tile, V tile). Query blocks run longest first (they see the most keys).
template <int D>
__device__ __forceinline__ void forward(const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq,
                                        int heads, int kvHeads, float scaleLog2) {
    extern __shared__ __align__(128) unsigned char smem[];
    constexpr int TILE_BYTES = TILE_N * D * 2;
    const u32 qTile = smem_addr(smem);
    const u32 kvBase = qTile + FWD_M * D * 2;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int mBlock = gridDim.x - 1 - blockIdx.x;
    const int b = blockIdx.y / heads, h = blockIdx.y % heads, kvh = h / (heads / kvHeads);
    const int ldq = heads * D, ldk = kvHeads * D;
    const u16* qh = q + (long long) b * seq * ldq + h * D;
    const u16* kh = k + (long long) b * seq * ldk + kvh * D;
    const u16* vh = v + (long long) b * seq * ldk + kvh * D;
    const int q0 = mBlock * FWD_M;
    const int warpRow0 = q0 + warp * 16;
    const int lastQuery = min(seq, q0 + FWD_M) - 1;
    const int tiles = lastQuery / TILE_N + 1;

    load_tile<D, FWD_M, FWD_WARPS * 32>(qTile, qh, ldq, q0, seq);
    load_tile<D, TILE_N, FWD_WARPS * 32>(kvBase, kh, ldk, 0, seq);
    load_tile<D, TILE_N, FWD_WARPS * 32>(kvBase + TILE_BYTES, vh, ldk, 0, seq);
    cp_async_commit();

    float o[D / 8][4];
#pragma unroll
    for (int j = 0; j < D / 8; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float rowMax[2] = {NEG_INF, NEG_INF}, rowSum[2] = {0.0f, 0.0f};
    u32 qf[D / 16][4];

    for (int n = 0; n < tiles; n++) {
        const u32 kTile = kvBase + (n & 1) * 2 * TILE_BYTES, vTile = kTile + TILE_BYTES;
        if (n + 1 < tiles) {
            const u32 next = kvBase + ((n + 1) & 1) * 2 * TILE_BYTES;
            load_tile<D, TILE_N, FWD_WARPS * 32>(next, kh, ldk, (n + 1) * TILE_N, seq);
            load_tile<D, TILE_N, FWD_WARPS * 32>(next + TILE_BYTES, vh, ldk, (n + 1) * TILE_N, seq);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        if (n == 0) {
#pragma unroll
            for (int kc = 0; kc < D / 16; kc++) load_a<D>(qTile, warp * 16, kc * 16, lane, qf[kc]);
        }
        const int key0 = n * TILE_N;
        // A warp whose 16 rows all precede the tile (or lie past the sequence) has nothing to do here.
        if (key0 <= warpRow0 + 15 && warpRow0 < seq) {
            float s[TILE_N / 8][4];
#pragma unroll
            for (int j = 0; j < TILE_N / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
            for (int kc = 0; kc < D / 16; kc++) {
#pragma unroll
                for (int j2 = 0; j2 < TILE_N / 16; j2++) {
                    u32 bf[4];
                    load_b_nk<D>(kTile, j2 * 16, kc * 16, lane, bf);
                    mma(s[2 * j2], qf[kc], bf[0], bf[1]);
                    mma(s[2 * j2 + 1], qf[kc], bf[2], bf[3]);
                }
            }
            const bool diagonal = key0 + TILE_N - 1 > warpRow0;
            float tileMax[2] = {NEG_INF, NEG_INF};
#pragma unroll
            for (int j = 0; j < TILE_N / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float x = s[j][e] * scaleLog2;
                    if (diagonal && key0 + j * 8 + 2 * t + (e & 1) > warpRow0 + g + (e >> 1) * 8) x = NEG_INF;
                    s[j][e] = x;
                    tileMax[e >> 1] = fmaxf(tileMax[e >> 1], x);
                }
            }
            float scaleOld[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xFFFFFFFFu, tileMax[r], 1));
                tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xFFFFFFFFu, tileMax[r], 2));
                float newMax = fmaxf(rowMax[r], tileMax[r]);
                // A row with every key so far masked keeps max -inf; exp2(-inf - 0) = 0 keeps it empty.
                float base = newMax == NEG_INF ? 0.0f : newMax;
                scaleOld[r] = exp2f(rowMax[r] - base);
                rowMax[r] = newMax;
                rowSum[r] *= scaleOld[r];
                tileMax[r] = base;
            }
#pragma unroll
            for (int j = 0; j < TILE_N / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float p = exp2f(s[j][e] - tileMax[e >> 1]);
                    s[j][e] = p;
                    rowSum[e >> 1] += p;
                }
            }
#pragma unroll
            for (int j = 0; j < D / 8; j++) {
                o[j][0] *= scaleOld[0];
                o[j][1] *= scaleOld[0];
                o[j][2] *= scaleOld[1];
                o[j][3] *= scaleOld[1];
            }
#pragma unroll
            for (int kk = 0; kk < TILE_N / 16; kk++) {
                u32 pf[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                             pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int j2 = 0; j2 < D / 16; j2++) {
                    u32 bf[4];
                    load_b_kn<D>(vTile, kk * 16, j2 * 16, lane, bf);
                    mma(o[2 * j2], pf, bf[0], bf[1]);
                    mma(o[2 * j2 + 1], pf, bf[2], bf[3]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int r = 0; r < 2; r++) {
        rowSum[r] += __shfl_xor_sync(0xFFFFFFFFu, rowSum[r], 1);
        rowSum[r] += __shfl_xor_sync(0xFFFFFFFFu, rowSum[r], 2);
    }
    const int ldo = heads * D;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = warpRow0 + g + r * 8;
        if (row < seq) {
            const float inv = 1.0f / rowSum[r];
            u16* dst = out + ((long long) b * seq + row) * ldo + h * D + 2 * t;
#pragma unroll
            for (int j = 0; j < D / 8; j++) {
                *(u32*) (dst + j * 8) = pack_bf16(o[j][2 * r] * inv, o[j][2 * r + 1] * inv);
            }
            if (t == 0) lse[((long long) b * heads + h) * seq + row] = (rowMax[r] + __log2f(rowSum[r])) * LN2;
        }
    }
}

extern "C" __global__ void __launch_bounds__(FWD_WARPS * 32) attention_forward_d64(
        const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq, int heads, int kvHeads,
        float scaleLog2) {
    forward<64>(q, k, v, out, lse, seq, heads, kvHeads, scaleLog2);
}

extern "C" __global__ void __launch_bounds__(FWD_WARPS * 32) attention_forward_d128(
        const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq, int heads, int kvHeads,
        float scaleLog2) {
    forward<128>(q, k, v, out, lse, seq, heads, kvHeads, scaleLog2);
}

// --------------------------------------------------------------------------------------------- backward

// delta[b * heads + h][s] = sum_d dOut[row][h * D + d] * out[row][h * D + d], row = b * seq + s: one warp per
// (row, head). Grid ceil(rows * heads / 8), 256 threads.
extern "C" __global__ void attention_backward_delta(const u16* dOut, const u16* out, float* delta, int rows,
                                                    int seq, int heads, int headDim) {
    const long long item = (long long) blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (item >= (long long) rows * heads) return;
    const int row = (int) (item / heads), h = (int) (item % heads);
    const long long base = (long long) row * heads * headDim + h * headDim;
    float sum = 0.0f;
    for (int d = 2 * lane; d < headDim; d += 64) {
        u32 a = *(const u32*) (dOut + base + d), o = *(const u32*) (out + base + d);
        sum += bf16_lo(a) * bf16_lo(o) + bf16_hi(a) * bf16_hi(o);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
    if (lane == 0) delta[((long long) (row / seq) * heads + h) * seq + row % seq] = sum;
}

// dq = BF16(dqAccum * scale), elementwise over count values (count even).
extern "C" __global__ void attention_backward_dq(const float* dqAccum, u16* dq, long long count, float scale) {
    for (long long i = 2 * ((long long) blockIdx.x * blockDim.x + threadIdx.x); i < count;
         i += 2LL * gridDim.x * blockDim.x) {
        *(u32*) (dq + i) = pack_bf16(dqAccum[i] * scale, dqAccum[i + 1] * scale);
    }
}

// Grid (ceil(seq / TILE_N), batch * kvHeads), BWD_WARPS * 32 threads. A block owns 64 keys of one kv head and
// walks every query tile at or after them, for each query head of the group, so that dK and dV sum in
// registers; warp w owns keys 16w..16w+15. dQ partial sums go to dqAccum (F32, zeroed) by atomic adds.
// Dynamic shared memory: K, V tiles; two stages of (Q tile, dOut tile); the dS tile (64 keys x 64 queries);
// two stages of (lse[64], delta[64]).
template <int D>
__device__ __forceinline__ void backward(const u16* q, const u16* k, const u16* v, const u16* dOut,
                                         const float* lse, const float* delta, float* dqAccum, u16* dk, u16* dv,
                                         int seq, int heads, int kvHeads, float scale) {
    extern __shared__ __align__(128) unsigned char smem[];
    constexpr int TILE_BYTES = TILE_N * D * 2;
    constexpr int THREADS = BWD_WARPS * 32;
    const u32 kTile = smem_addr(smem), vTile = kTile + TILE_BYTES;
    const u32 stage0 = vTile + TILE_BYTES;  // stage s: Q at stage0 + s * 2 * TILE_BYTES, dOut after it
    unsigned char* dsBytes = smem + 6 * TILE_BYTES;
    const u32 dsTile = smem_addr(dsBytes);
    float* rowStats = (float*) (dsBytes + TILE_N * BWD_M * 2);  // [stage][lse 64, delta 64]
    const u32 statsAddr = smem_addr(rowStats);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int nBlock = blockIdx.x;
    const int b = blockIdx.y / kvHeads, kvh = blockIdx.y % kvHeads, group = heads / kvHeads;
    const int ldq = heads * D, ldk = kvHeads * D;
    const int key0 = nBlock * TILE_N;
    const int mTiles = (seq + BWD_M - 1) / BWD_M - nBlock;  // query tiles per head (BWD_M == TILE_N)
    const int steps = group * mTiles;
    const float scaleLog2 = scale * LOG2E;
    const u16* kh = k + (long long) b * seq * ldk + kvh * D;
    const u16* vh = v + (long long) b * seq * ldk + kvh * D;

    load_tile<D, TILE_N, THREADS>(kTile, kh, ldk, key0, seq);
    load_tile<D, TILE_N, THREADS>(vTile, vh, ldk, key0, seq);

    // Starts the loads of step i (query head, query tile) into stage i & 1.
    auto prefetch = [&](int i) {
        const int h = kvh * group + i / mTiles, m0 = (nBlock + i % mTiles) * BWD_M;
        const u32 st = stage0 + (i & 1) * 2 * TILE_BYTES;
        load_tile<D, BWD_M, THREADS>(st, q + (long long) b * seq * ldq + h * D, ldq, m0, seq);
        load_tile<D, BWD_M, THREADS>(st + TILE_BYTES, dOut + (long long) b * seq * ldq + h * D, ldq, m0, seq);
        const long long statRow = ((long long) b * heads + h) * seq;
        for (int x = threadIdx.x; x < 2 * BWD_M; x += THREADS) {
            const int qi = m0 + (x % BWD_M);
            const float* src = (x < BWD_M ? lse : delta) + statRow + qi;
            cp_async4(statsAddr + ((i & 1) * 2 * BWD_M + x) * 4, qi < seq ? src : lse, qi < seq);
        }
    };
    prefetch(0);
    cp_async_commit();

    float dkAcc[D / 8][4], dvAcc[D / 8][4];
#pragma unroll
    for (int j = 0; j < D / 8; j++) {
        dkAcc[j][0] = dkAcc[j][1] = dkAcc[j][2] = dkAcc[j][3] = 0.0f;
        dvAcc[j][0] = dvAcc[j][1] = dvAcc[j][2] = dvAcc[j][3] = 0.0f;
    }
    const int myKey0 = key0 + warp * 16;  // this warp's first key; its thread rows are myKey0 + g (+ 8)

    for (int i = 0; i < steps; i++) {
        if (i + 1 < steps) prefetch(i + 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const int h = kvh * group + i / mTiles, m0 = (nBlock + i % mTiles) * BWD_M;
        const u32 qTile = stage0 + (i & 1) * 2 * TILE_BYTES, doTile = qTile + TILE_BYTES;
        const float* lseS = rowStats + (i & 1) * 2 * BWD_M;
        const float* deltaS = lseS + BWD_M;

        // S^T = K_w Q^T and dP^T = V_w dOut^T: 16 keys x 64 queries each.
        float sT[BWD_M / 8][4], dpT[BWD_M / 8][4];
#pragma unroll
        for (int j = 0; j < BWD_M / 8; j++) {
            sT[j][0] = sT[j][1] = sT[j][2] = sT[j][3] = 0.0f;
            dpT[j][0] = dpT[j][1] = dpT[j][2] = dpT[j][3] = 0.0f;
        }
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            u32 ka[4], va[4];
            load_a<D>(kTile, warp * 16, kc * 16, lane, ka);
            load_a<D>(vTile, warp * 16, kc * 16, lane, va);
#pragma unroll
            for (int j2 = 0; j2 < BWD_M / 16; j2++) {
                u32 bf[4];
                load_b_nk<D>(qTile, j2 * 16, kc * 16, lane, bf);
                mma(sT[2 * j2], ka, bf[0], bf[1]);
                mma(sT[2 * j2 + 1], ka, bf[2], bf[3]);
                load_b_nk<D>(doTile, j2 * 16, kc * 16, lane, bf);
                mma(dpT[2 * j2], va, bf[0], bf[1]);
                mma(dpT[2 * j2 + 1], va, bf[2], bf[3]);
            }
        }
        // P^T from the saved log-sum-exp; dS^T = P^T * (dP^T - delta). Masked: key > query, query past seq.
        const bool edge = m0 == key0 || m0 + BWD_M > seq;
#pragma unroll
        for (int j = 0; j < BWD_M / 8; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int col = j * 8 + 2 * t + (e & 1);
                float p = exp2f(sT[j][e] * scaleLog2 - lseS[col] * LOG2E);
                if (edge && (myKey0 + g + (e >> 1) * 8 > m0 + col || m0 + col >= seq)) p = 0.0f;
                sT[j][e] = p;
                dpT[j][e] = p * (dpT[j][e] - deltaS[col]);
            }
        }
        // dV += P^T dOut and dK += dS^T Q (16 keys x D), A operands straight from registers.
#pragma unroll
        for (int kk = 0; kk < BWD_M / 16; kk++) {
            u32 pf[4] = {pack_bf16(sT[2 * kk][0], sT[2 * kk][1]), pack_bf16(sT[2 * kk][2], sT[2 * kk][3]),
                         pack_bf16(sT[2 * kk + 1][0], sT[2 * kk + 1][1]),
                         pack_bf16(sT[2 * kk + 1][2], sT[2 * kk + 1][3])};
            u32 df[4] = {pack_bf16(dpT[2 * kk][0], dpT[2 * kk][1]), pack_bf16(dpT[2 * kk][2], dpT[2 * kk][3]),
                         pack_bf16(dpT[2 * kk + 1][0], dpT[2 * kk + 1][1]),
                         pack_bf16(dpT[2 * kk + 1][2], dpT[2 * kk + 1][3])};
            // dS^T goes to shared memory too (rows = keys, 64 query columns) for dQ = dS K below.
            const int row = warp * 16 + g;
            const u32 colBytes = 4 * t;
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(dsTile + swz<BWD_M>(row, kk * 16) + colBytes), "r"(df[0]));
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(dsTile + swz<BWD_M>(row + 8, kk * 16) + colBytes), "r"(df[1]));
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(dsTile + swz<BWD_M>(row, kk * 16 + 8) + colBytes), "r"(df[2]));
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(dsTile + swz<BWD_M>(row + 8, kk * 16 + 8) + colBytes), "r"(df[3]));
#pragma unroll
            for (int j2 = 0; j2 < D / 16; j2++) {
                u32 bf[4];
                load_b_kn<D>(doTile, kk * 16, j2 * 16, lane, bf);
                mma(dvAcc[2 * j2], pf, bf[0], bf[1]);
                mma(dvAcc[2 * j2 + 1], pf, bf[2], bf[3]);
                load_b_kn<D>(qTile, kk * 16, j2 * 16, lane, bf);
                mma(dkAcc[2 * j2], df, bf[0], bf[1]);
                mma(dkAcc[2 * j2 + 1], df, bf[2], bf[3]);
            }
        }
        __syncthreads();
        // dQ (64 queries x D) = dS K: warp w takes queries 16w..16w+15, in column chunks of 64.
        const int qRow = m0 + warp * 16 + g;
        float* dqRow = dqAccum + ((long long) b * seq + qRow) * ldq + h * D + 2 * t;
#pragma unroll
        for (int c0 = 0; c0 < D; c0 += 64) {
            float acc[8][4];
#pragma unroll
            for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < TILE_N / 16; kk++) {
                u32 af[4];
                // dS rows are this warp's queries: read the stored dS^T transposed.
                ldsm_x4_t(dsTile + swz<BWD_M>(kk * 16 + (lane & 7) + (lane >> 4) * 8, warp * 16 + ((lane >> 3) & 1) * 8),
                          af[0], af[1], af[2], af[3]);
#pragma unroll
                for (int j2 = 0; j2 < 4; j2++) {
                    u32 bf[4];
                    load_b_kn<D>(kTile, kk * 16, c0 + j2 * 16, lane, bf);
                    mma(acc[2 * j2], af, bf[0], bf[1]);
                    mma(acc[2 * j2 + 1], af, bf[2], bf[3]);
                }
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if (qRow < seq) red_add2(dqRow + c0 + j * 8, acc[j][0], acc[j][1]);
                if (qRow + 8 < seq) red_add2(dqRow + 8LL * ldq + c0 + j * 8, acc[j][2], acc[j][3]);
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int key = myKey0 + g + r * 8;
        if (key < seq) {
            const long long off = ((long long) b * seq + key) * ldk + kvh * D + 2 * t;
#pragma unroll
            for (int j = 0; j < D / 8; j++) {
                *(u32*) (dk + off + j * 8) = pack_bf16(dkAcc[j][2 * r] * scale, dkAcc[j][2 * r + 1] * scale);
                *(u32*) (dv + off + j * 8) = pack_bf16(dvAcc[j][2 * r], dvAcc[j][2 * r + 1]);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(BWD_WARPS * 32) attention_backward_d64(
        const u16* q, const u16* k, const u16* v, const u16* dOut, const float* lse, const float* delta,
        float* dqAccum, u16* dk, u16* dv, int seq, int heads, int kvHeads, float scale) {
    backward<64>(q, k, v, dOut, lse, delta, dqAccum, dk, dv, seq, heads, kvHeads, scale);
}

extern "C" __global__ void __launch_bounds__(BWD_WARPS * 32) attention_backward_d128(
        const u16* q, const u16* k, const u16* v, const u16* dOut, const float* lse, const float* delta,
        float* dqAccum, u16* dk, u16* dv, int seq, int heads, int kvHeads, float scale) {
    backward<128>(q, k, v, dOut, lse, delta, dqAccum, dk, dv, seq, heads, kvHeads, scale);
}
