// Fused causal self-attention in BF16 with grouped-query heads, forward and backward, compiled at run time by
// NVRTC (no headers needed). Flash-attention style: the seq x seq scores are never stored whole, only tile by tile
// in registers (and, in the backward, as BF16 tiles in shared memory).
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
// A C fragment converted to BF16 is therefore an A fragment of the next product: the forward's P @ V reads P
// straight from registers, and the backward stores P^T and dS^T tiles from them in that layout.

#include "attention.cuh"

// Tiling: forward blocks of 128 query rows in 4 warps of 32 rows (two m16 tiles per warp, so that each K and V
// fragment read from shared memory feeds 4 mma instead of 2); backward blocks of 128 keys in 8 warps, each warp
// covering 32 keys (two m16 tiles) of its products for the same reason (and the more keys a block owns, the fewer
// dQ atomics and Q / dOut tile loads per key). The forward walks keys and the backward queries in tiles of 64,
// double-buffered.
#define TILE_N 64
#define BWD_M 64
#define FWD_WARPS 4
#define FWD_M (32 * FWD_WARPS)
#define BWD_WARPS 8
#define BWD_N 128

// Byte offset of element column `col` (a multiple of 8) of row `row` in a swizzled tile of D columns.
template <int D>
__device__ __forceinline__ u32 swz(int row, int col) {
    return (u32) (row * (D * 2) + ((((col >> 3) ^ (row & 7))) << 4));
}

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

__device__ __forceinline__ float bf16_lo(u32 x) { return __uint_as_float(x << 16); }
__device__ __forceinline__ float bf16_hi(u32 x) { return __uint_as_float(x & 0xFFFF0000u); }

// The kernels address ldmatrix fragments as one register per thread and tile plus constants. In a tile whose base
// is 256-byte aligned, row r starts at a multiple of COLS * 2 (128 or 256 bytes) and its 16-byte chunk c sits at
// (c ^ (r & 7)) << 4 within it, bits that no row start touches. The row a lane hands ldmatrix is (fragment row0)
// + (lane's row) and its column (fragment col0) + (lane's column): with row0 a multiple of 8 the swizzle (r & 7)
// is the lane's own, and with col0 a multiple of 16 (an even chunk) and the lane's column 0 or 8, the chunk index
// is col0 / 8 XOR the lane's. So the address is (lane address ^ (col0 * 2)) + row0 * COLS * 2, the lane address
// being that of fragment (0, 0): one LOP3 per column chunk, the row offset an immediate of ldmatrix.
template <int COLS>
__device__ __forceinline__ u32 frag_at(u32 laneAddr, int row0, int col0) {
    return (laneAddr ^ (u32) (col0 * 2)) + (u32) (row0 * COLS * 2);
}

// Lane addresses of the three ldmatrix patterns, for fragment (0, 0). lane_a: an A fragment (16 x 16) of a
// row-major tile. lane_b_nk: B fragments of two adjacent n-blocks (16 n x 16 k; regs {0, 1} for n0, {2, 3} for
// n0 + 8) where the tile holds B transposed (row = n, column = k), as K does in Q K^T; the same lanes read an
// A fragment of a stored A^T with ldmatrix.trans. lane_b_kn: the same B fragments from a tile that holds B as is
// (row = k, column = n), as V does in P V, read with ldmatrix.trans.
template <int COLS>
__device__ __forceinline__ u32 lane_a(u32 tile, int lane) {
    return tile + swz<COLS>(lane & 15, (lane >> 4) * 8);
}

template <int COLS>
__device__ __forceinline__ u32 lane_b_nk(u32 tile, int lane) {
    return tile + swz<COLS>((lane & 7) + ((lane >> 4) << 3), ((lane >> 3) & 1) * 8);
}

template <int COLS>
__device__ __forceinline__ u32 lane_b_kn(u32 tile, int lane) {
    return tile + swz<COLS>((lane & 7) + ((lane >> 3) & 1) * 8, (lane >> 4) * 8);
}

// Starts copying rows [row0, row0 + ROWS) of a D-column slice (row stride ld elements) into a swizzled tile;
// rows at or past `rows` are zero-filled. Each thread copies one 16-byte column chunk of every
// (THREADS / (D / 8))-th row (a multiple of 8 rows, so the chunk's swizzled position repeats), walking one
// source offset down the rows in a loop that is not unrolled. Unrolled, the compiler keeps every row's offset
// live across the whole kernel, tens of registers the matrix products need.
template <int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_rows(u32 tile, const u16* src, int ld, int row0, int rows) {
    constexpr int CHUNKS = D / 8, ROW_STEP = THREADS / CHUNKS;
    static_assert(THREADS % CHUNKS == 0 && ROW_STEP % 8 == 0 && ROWS % ROW_STEP == 0, "rows per pass");
    const int r = threadIdx.x / CHUNKS, c = threadIdx.x % CHUNKS;
    u32 dst = tile + swz<D>(r, c * 8);
    u32 off = (u32) (row0 + r) * ld + c * 8;  // below 2^31 for rows inside the sequence (checked on the host)
    const int left = rows - row0 - r;   // rows of this thread's column still inside the sequence
#pragma unroll 1
    for (int x = 0; x < ROWS; x += ROW_STEP) {
        const bool valid = x < left;
        cp_async16(dst, valid ? src + off : src, valid);
        dst += ROW_STEP * D * 2;
        off += ROW_STEP * ld;
    }
}

// The start of dynamic shared memory rounded up to 256 bytes (frag_at needs tile bases so aligned); the launch
// asks for 256 bytes more than the tiles take.
__device__ __forceinline__ u32 smem_base256(const void* smem) {
    return (shared_address(smem) + 255u) & ~255u;
}

// ---------------------------------------------------------------------------------------------- forward

// Grid (ceil(seq / FWD_M), batch * heads), FWD_WARPS * 32 threads; dynamic shared memory: Q tile (128 rows),
// then two stages of (K tile, V tile). Warp w owns the 32 contiguous query rows 32w..32w+31 of the block as two
// m16 tiles, so that each K and V fragment read by ldmatrix feeds both (4 mma per ldmatrix.x4 instead of 2). Q
// fragments are read from shared memory for each 16-column chunk: holding both tiles' Q in registers would take
// 64 more of them. Contiguous rows (rather than rows interleaved across warps) let the warps above the diagonal
// skip a key tile whole. Query blocks run longest first (they see the most keys) within each head; see
// attention_sm90.cu's forward for why not across the whole grid.
template <int D>
__device__ __forceinline__ void forward(const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq,
                                        int heads, int kvHeads, float scaleLog2, u32* amax) {
    extern __shared__ __align__(128) unsigned char smem[];
    constexpr int TILE_BYTES = TILE_N * D * 2;
    constexpr int THREADS = FWD_WARPS * 32;
    const u32 qTile = smem_base256(smem);
    const u32 kvBase = qTile + FWD_M * D * 2;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int mBlock = gridDim.x - 1 - blockIdx.x;
    const int b = blockIdx.y / heads, h = blockIdx.y % heads, kvh = h / (heads / kvHeads);
    const int ldq = heads * D, ldk = kvHeads * D;
    const u16* qh = q + (long long) b * seq * ldq + h * D;
    const u16* kh = k + (long long) b * seq * ldk + kvh * D;
    const u16* vh = v + (long long) b * seq * ldk + kvh * D;
    const int q0 = mBlock * FWD_M;
    const int warpRow0 = q0 + warp * 32;
    const int lastQuery = min(seq, q0 + FWD_M) - 1;
    const int tiles = lastQuery / TILE_N + 1;

    load_rows<D, FWD_M, THREADS>(qTile, qh, ldq, q0, seq);
    load_rows<D, TILE_N, THREADS>(kvBase, kh, ldk, 0, seq);
    load_rows<D, TILE_N, THREADS>(kvBase + TILE_BYTES, vh, ldk, 0, seq);
    cp_async_commit();

    // o[m][j]: rows warpRow0 + 16m + g (c0, c1) and + 8 (c2, c3), columns 8j + 2t, + 1. rowMax is in log2 units
    // (scores times scaleLog2), rowMax[m][r] and rowSum[m][r] for row warpRow0 + 16m + g + 8r.
    float o[2][D / 8][4];
#pragma unroll
    for (int m = 0; m < 2; m++) {
#pragma unroll
        for (int j = 0; j < D / 8; j++) o[m][j][0] = o[m][j][1] = o[m][j][2] = o[m][j][3] = 0.0f;
    }
    float rowMax[2][2] = {{NEG_INF, NEG_INF}, {NEG_INF, NEG_INF}};
    float rowSum[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    const u32 qLane = lane_a<D>(qTile, lane) + warp * 32 * D * 2;
    const u32 kLane0 = lane_b_nk<D>(kvBase, lane), vLane0 = lane_b_kn<D>(kvBase + TILE_BYTES, lane);

    for (int n = 0; n < tiles; n++) {
        // Tile n has landed for every thread, and every warp is done with tile n - 1, whose stage the copy of
        // tile n + 1 started below overwrites: one barrier per tile.
        cp_async_wait<0>();
        __syncthreads();
        if (n + 1 < tiles) {
            const u32 next = kvBase + ((n + 1) & 1) * 2 * TILE_BYTES;
            load_rows<D, TILE_N, THREADS>(next, kh, ldk, (n + 1) * TILE_N, seq);
            load_rows<D, TILE_N, THREADS>(next + TILE_BYTES, vh, ldk, (n + 1) * TILE_N, seq);
            cp_async_commit();
        }
        const u32 stage = (n & 1) * 2 * TILE_BYTES;
        const u32 kLane = kLane0 + stage, vLane = vLane0 + stage;
        const int key0 = n * TILE_N;
        // A warp whose 32 rows all precede the tile (or lie past the sequence) has nothing to do here.
        if (key0 > warpRow0 + 31 || warpRow0 >= seq) continue;

        float s[2][TILE_N / 8][4];
#pragma unroll
        for (int m = 0; m < 2; m++) {
#pragma unroll
            for (int j = 0; j < TILE_N / 8; j++) s[m][j][0] = s[m][j][1] = s[m][j][2] = s[m][j][3] = 0.0f;
        }
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            u32 qa[2][4];
#pragma unroll
            for (int m = 0; m < 2; m++) {
                ldsm_x4(frag_at<D>(qLane, m * 16, kc * 16), qa[m][0], qa[m][1], qa[m][2], qa[m][3]);
            }
#pragma unroll
            for (int j2 = 0; j2 < TILE_N / 16; j2++) {
                u32 bf[4];
                ldsm_x4(frag_at<D>(kLane, j2 * 16, kc * 16), bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    mma(s[m][2 * j2], qa[m], bf[0], bf[1]);
                    mma(s[m][2 * j2 + 1], qa[m], bf[2], bf[3]);
                }
            }
        }
        // Only a tile that reaches past the warp's first row holds keys after some of its rows.
        if (key0 + TILE_N - 1 > warpRow0) {
#pragma unroll
            for (int m = 0; m < 2; m++) {
#pragma unroll
                for (int j = 0; j < TILE_N / 8; j++) {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int key = key0 + j * 8 + 2 * t + (e & 1), row = warpRow0 + m * 16 + g + (e >> 1) * 8;
                        if (key > row) s[m][j][e] = NEG_INF;
                    }
                }
            }
        }
        // Online softmax on the raw scores (scaleLog2 > 0 keeps their order): p = 2^(s * scaleLog2 - max) as
        // one fma and one ex2 per score.
        float scaleOld[2][2], negBase[2][2];
#pragma unroll
        for (int m = 0; m < 2; m++) {
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float tileMax = NEG_INF;
#pragma unroll
                for (int j = 0; j < TILE_N / 8; j++) tileMax = fmaxf(tileMax, fmaxf(s[m][j][2 * r], s[m][j][2 * r + 1]));
                tileMax = fmaxf(tileMax, __shfl_xor_sync(0xFFFFFFFFu, tileMax, 1));
                tileMax = fmaxf(tileMax, __shfl_xor_sync(0xFFFFFFFFu, tileMax, 2));
                const float newMax = fmaxf(rowMax[m][r], tileMax * scaleLog2);
                // A row with every key so far masked keeps max -inf; 2^(-inf - 0) = 0 keeps it empty.
                const float base = newMax == NEG_INF ? 0.0f : newMax;
                scaleOld[m][r] = exp2_ftz(rowMax[m][r] - base);
                rowMax[m][r] = newMax;
                rowSum[m][r] *= scaleOld[m][r];
                negBase[m][r] = -base;
            }
        }
#pragma unroll
        for (int m = 0; m < 2; m++) {
#pragma unroll
            for (int j = 0; j < TILE_N / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float p = exp2_ftz(fmaf(s[m][j][e], scaleLog2, negBase[m][e >> 1]));
                    s[m][j][e] = p;
                    rowSum[m][e >> 1] += p;
                }
            }
        }
        // Once the maxima settle, most tiles leave every row's max as it was: skip multiplying O by 1 then.
        const bool rescale = scaleOld[0][0] != 1.0f || scaleOld[0][1] != 1.0f || scaleOld[1][0] != 1.0f
                             || scaleOld[1][1] != 1.0f;
        if (__any_sync(0xFFFFFFFFu, rescale)) {
#pragma unroll
            for (int m = 0; m < 2; m++) {
#pragma unroll
                for (int j = 0; j < D / 8; j++) {
                    o[m][j][0] *= scaleOld[m][0];
                    o[m][j][1] *= scaleOld[m][0];
                    o[m][j][2] *= scaleOld[m][1];
                    o[m][j][3] *= scaleOld[m][1];
                }
            }
        }
        // O += P V: P's C fragments, as BF16, are the A fragments; each V fragment serves both row tiles.
#pragma unroll
        for (int kk = 0; kk < TILE_N / 16; kk++) {
            u32 pf[2][4];
#pragma unroll
            for (int m = 0; m < 2; m++) {
                pf[m][0] = pack_bf16(s[m][2 * kk][0], s[m][2 * kk][1]);
                pf[m][1] = pack_bf16(s[m][2 * kk][2], s[m][2 * kk][3]);
                pf[m][2] = pack_bf16(s[m][2 * kk + 1][0], s[m][2 * kk + 1][1]);
                pf[m][3] = pack_bf16(s[m][2 * kk + 1][2], s[m][2 * kk + 1][3]);
            }
#pragma unroll
            for (int j2 = 0; j2 < D / 16; j2++) {
                u32 bf[4];
                ldsm_x4_t(frag_at<D>(vLane, kk * 16, j2 * 16), bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    mma(o[m][2 * j2], pf[m], bf[0], bf[1]);
                    mma(o[m][2 * j2 + 1], pf[m], bf[2], bf[3]);
                }
            }
        }
    }

    const int ldo = heads * D;
    u32 top = 0;
#pragma unroll
    for (int m = 0; m < 2; m++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float sum = rowSum[m][r];
            sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
            sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
            const int row = warpRow0 + m * 16 + g + r * 8;
            if (row < seq) {
                const float inv = 1.0f / sum;
                u16* dst = out + ((long long) b * seq + row) * ldo + h * D + 2 * t;
#pragma unroll
                for (int j = 0; j < D / 8; j++) {
                    const float x0 = o[m][j][2 * r] * inv, x1 = o[m][j][2 * r + 1] * inv;
                    top = max(top, max(abs_bits(x0), abs_bits(x1)));
                    *(u32*) (dst + j * 8) = pack_bf16(x0, x1);
                }
                if (t == 0) lse[((long long) b * heads + h) * seq + row] = (rowMax[m][r] + __log2f(sum)) * LN2;
            }
        }
    }
    warp_amax(top, amax);
}

// *amax (null: none) gets out's absolute maximum, for the output projection's FP8 cast.
extern "C" __global__ void __launch_bounds__(FWD_WARPS * 32) attention_forward_d64(
        const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq, int heads, int kvHeads,
        float scaleLog2, u32* amax) {
    forward<64>(q, k, v, out, lse, seq, heads, kvHeads, scaleLog2, amax);
}

extern "C" __global__ void __launch_bounds__(FWD_WARPS * 32) attention_forward_d128(
        const u16* q, const u16* k, const u16* v, u16* out, float* lse, int seq, int heads, int kvHeads,
        float scaleLog2, u32* amax) {
    forward<128>(q, k, v, out, lse, seq, heads, kvHeads, scaleLog2, amax);
}

// --------------------------------------------------------------------------------------------- backward

// (row, head) items a warp of attention_backward_delta takes; CudaAttention sizes the grid by it (8 warps a block).
#define DELTA_WARP_ITEMS 2

// delta[b * heads + h][s] = sum_d dOut[row][h * D + d] * out[row][h * D + d], row = b * seq + s: a warp takes
// DELTA_WARP_ITEMS (row, head) items, each lane four elements of each (headDim <= 128, a multiple of 4, as
// CudaAttention's head sizes are), every item's 8-byte loads issued before the first product. Grid
// ceil(rows * heads / (8 * DELTA_WARP_ITEMS)), 256 threads. The first form, a warp per item with a 4-byte load a lane
// per loop step, took 0.164 ms a call in the Llama step on an H200, where dOut and out (268 MB) take 0.067 at 4 TB/s.
extern "C" __global__ void attention_backward_delta(const u16* dOut, const u16* out, float* delta, int rows,
                                                    int seq, int heads, int headDim) {
    const long long first = ((long long) blockIdx.x * 8 + (threadIdx.x >> 5)) * DELTA_WARP_ITEMS;
    const long long items = (long long) rows * heads;
    const int lane = threadIdx.x & 31;
    BF16x4 a[DELTA_WARP_ITEMS], o[DELTA_WARP_ITEMS];
#pragma unroll
    for (int i = 0; i < DELTA_WARP_ITEMS; i++) {
        const long long item = first + i;
        a[i] = o[i] = BF16x4{0, 0};
        if (item < items && 4 * lane < headDim) {
            const long long base = item * headDim;  // row * heads * headDim + h * headDim
            a[i] = ((const BF16x4*) (dOut + base))[lane];
            o[i] = ((const BF16x4*) (out + base))[lane];
        }
    }
#pragma unroll
    for (int i = 0; i < DELTA_WARP_ITEMS; i++) {
        const long long item = first + i;
        float x[4], y[4];
        bf16x4_to_floats(a[i], x);
        bf16x4_to_floats(o[i], y);
        float sum = (x[0] * y[0] + x[1] * y[1]) + (x[2] * y[2] + x[3] * y[3]);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
        if (lane == 0 && item < items) {
            const int row = (int) (item / heads), h = (int) (item % heads);
            delta[((long long) (row / seq) * heads + h) * seq + row % seq] = sum;
        }
    }
}

// dq = BF16(dqAccum * scale), elementwise over count values (count even).
extern "C" __global__ void attention_backward_dq(const float* dqAccum, u16* dq, long long count, float scale) {
    for (long long i = 2 * ((long long) blockIdx.x * blockDim.x + threadIdx.x); i < count;
         i += 2LL * gridDim.x * blockDim.x) {
        *(u32*) (dq + i) = pack_bf16(dqAccum[i] * scale, dqAccum[i + 1] * scale);
    }
}

// Stores the BF16 A fragment x of keys 16 keyBlock.. x queries 16 queryBlock.. (as C fragments of two n-blocks
// pack, see the layouts above) into a swizzled tile of rows = keys, BWD_M query columns: P^T or dS^T.
__device__ __forceinline__ void store_t(u32 tile, int keyBlock, int queryBlock, int lane, const u32* x) {
    const int row = keyBlock * 16 + (lane >> 2), col = queryBlock * 16;
    const u32 colBytes = 4 * (lane & 3);
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(tile + swz<BWD_M>(row, col) + colBytes), "r"(x[0]));
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(tile + swz<BWD_M>(row + 8, col) + colBytes), "r"(x[1]));
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(tile + swz<BWD_M>(row, col + 8) + colBytes), "r"(x[2]));
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(tile + swz<BWD_M>(row + 8, col + 8) + colBytes), "r"(x[3]));
}

// Grid (batch * kvHeads, ceil(seq / BWD_N)), BWD_WARPS * 32 threads: the key block along y, so that every head
// group's first (longest) block is dispatched first (see attention_sm90.cu's backward). A block owns 128 keys of one
// kv head and walks every query tile (64 queries) at or after them, for each query head of the group. Per tile, three products, each
// in the warp layout where every fragment read from shared memory feeds two m16 tiles (4 mma per ldmatrix.x4):
//   S^T = K Q^T and dP^T = V dOut^T: warp w computes keys 32 (w / 2) .. + 31 x queries 32 (w % 2) .. + 31, its
//     16-key halves sharing each Q and dOut B fragment; P^T and dS^T = P^T * (dP^T - delta), rounded to BF16,
//     go to shared memory;
//   dV += P^T dOut and dK += dS^T Q: warp w sums keys 32 (w / 2) .. + 31 x columns (D / 2) (w % 2) .. of both in
//     registers (the block's 128 keys x D in a 4 x 2 layout), A fragments read from the staged tiles;
//   dQ = dS K: warp w computes queries 32 (w / 4) .. + 31 x columns (D / 4) (w % 4) .., over the 128 keys, and
//     adds them into dqAccum (F32, zeroed) by atomic adds.
// A warp's S^T covers half the tile's queries while its dV and dK need all 64, hence the staging: P^T kept in
// registers would fix the warp at 16 keys x 64 queries, each fragment feeding a single m16 tile, which measured
// about 8% slower (H100, B4 S4096 32/8 heads D128: 6.5 ms against 6.0).
// Dynamic shared memory, from a 256-byte aligned start: K and V tiles (128 rows); two stages of (Q tile, dOut
// tile) of 64 rows; the dS^T and P^T tiles (128 keys x 64 queries each); two stages of (lse[64], delta[64]).
template <int D>
__device__ __forceinline__ void backward(const u16* q, const u16* k, const u16* v, const u16* dOut,
                                         const float* lse, const float* delta, float* dqAccum, u16* dk, u16* dv,
                                         int seq, int heads, int kvHeads, float scale) {
    extern __shared__ __align__(128) unsigned char smem[];
    constexpr int KV_BYTES = BWD_N * D * 2;
    constexpr int Q_BYTES = BWD_M * D * 2;
    constexpr int THREADS = BWD_WARPS * 32;
    constexpr int DQ_COLS = D / 4;
    constexpr int ACC_COLS = D / 2;  // dK and dV columns per warp
    static_assert(BWD_WARPS == 8 && BWD_N == 128 && BWD_M == 64 && DQ_COLS % 16 == 0, "the warp layouts");
    static_assert(2 * BWD_M <= THREADS, "one thread per lse and delta value");
    const u32 kTile = smem_base256(smem), vTile = kTile + KV_BYTES;
    const u32 stage0 = vTile + KV_BYTES;  // stage s: Q at stage0 + s * 2 * Q_BYTES, dOut after it
    const u32 dsTile = stage0 + 4 * Q_BYTES;
    const u32 pTile = dsTile + BWD_N * BWD_M * 2;
    const u32 statsAddr = pTile + BWD_N * BWD_M * 2;  // [stage][lse 64, delta 64]
    const float* rowStats = (const float*) (smem + (statsAddr - shared_address(smem)));

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int b = blockIdx.x / kvHeads, kvh = blockIdx.x % kvHeads, group = heads / kvHeads;
    const int ldq = heads * D, ldk = kvHeads * D;
    const int key0 = blockIdx.y * BWD_N;
    const int mFirst = key0 / BWD_M;  // the query tile that starts at key0
    const int mTiles = (seq + BWD_M - 1) / BWD_M - mFirst;  // query tiles per head
    const int steps = group * mTiles;
    const float scaleLog2 = scale * LOG2E;
    const u16* kh = k + (long long) b * seq * ldk + kvh * D;
    const u16* vh = v + (long long) b * seq * ldk + kvh * D;

    load_rows<D, BWD_N, THREADS>(kTile, kh, ldk, key0, seq);
    load_rows<D, BWD_N, THREADS>(vTile, vh, ldk, key0, seq);

    // Starts the loads of step i (query head, query tile) into stage i & 1.
    auto prefetch = [&](int i) {
        const int h = kvh * group + i / mTiles, m0 = (mFirst + i % mTiles) * BWD_M;
        const u32 st = stage0 + (i & 1) * 2 * Q_BYTES;
        const long long headOffset = (long long) b * seq * ldq + h * D;
        load_rows<D, BWD_M, THREADS>(st, q + headOffset, ldq, m0, seq);
        load_rows<D, BWD_M, THREADS>(st + Q_BYTES, dOut + headOffset, ldq, m0, seq);
        if (threadIdx.x < 2 * BWD_M) {
            const int x = threadIdx.x, qi = m0 + (x % BWD_M);
            const float* src = (x < BWD_M ? lse : delta) + ((long long) b * heads + h) * seq + qi;
            cp_async4(statsAddr + ((i & 1) * 2 * BWD_M + x) * 4, qi < seq ? src : lse, qi < seq);
        }
    };
    prefetch(0);
    cp_async_commit();

    // dkAcc[m][j], dvAcc[m][j]: keys warpKey0 + 16m + g (+ 8), columns accCol0 + 8j + 2t, + 1.
    float dkAcc[2][ACC_COLS / 8][4], dvAcc[2][ACC_COLS / 8][4];
#pragma unroll
    for (int m = 0; m < 2; m++) {
#pragma unroll
        for (int j = 0; j < ACC_COLS / 8; j++) {
            dkAcc[m][j][0] = dkAcc[m][j][1] = dkAcc[m][j][2] = dkAcc[m][j][3] = 0.0f;
            dvAcc[m][j][0] = dvAcc[m][j][1] = dvAcc[m][j][2] = dvAcc[m][j][3] = 0.0f;
        }
    }
    const int keyGroup = warp >> 1, half = warp & 1;
    const int warpKey0 = key0 + keyGroup * 32;  // this warp's 32 keys, for S^T and dP^T and for dK and dV
    const int qCol0 = half * 32, accCol0 = half * ACC_COLS;
    // Lane addresses (see frag_at). V's fragments sit KV_BYTES after K's, dOut's Q_BYTES after Q's.
    const u32 kRowsLane = lane_a<D>(kTile, lane) + keyGroup * 32 * D * 2;
    const u32 nkLane0 = lane_b_nk<D>(stage0, lane), knLane0 = lane_b_kn<D>(stage0, lane);
    const u32 pALane = lane_a<BWD_M>(pTile, lane), dsALaneRows = lane_a<BWD_M>(dsTile, lane);
    const u32 dsALane = lane_b_nk<BWD_M>(dsTile, lane);  // dS read transposed, from the stored dS^T
    const u32 kKnLane = lane_b_kn<D>(kTile, lane);
    const int dqGroup = warp >> 2, dqCol0 = (warp & 3) * DQ_COLS;

    for (int i = 0; i < steps; i++) {
        // Step i's tiles have landed for every thread, and every warp is past all of step i - 1's reads: of the
        // stage the copy started below overwrites, and of the P^T and dS^T tiles this step rewrites.
        cp_async_wait<0>();
        __syncthreads();
        if (i + 1 < steps) {
            prefetch(i + 1);
            cp_async_commit();
        }
        const int h = kvh * group + i / mTiles, m0 = (mFirst + i % mTiles) * BWD_M;
        const u32 stage = (i & 1) * 2 * Q_BYTES;
        const u32 qNk = nkLane0 + stage, qKn = knLane0 + stage;
        const float* lseS = rowStats + (i & 1) * 2 * BWD_M;
        const float* deltaS = lseS + BWD_M;
        const int query0 = m0 + qCol0;  // this warp's first query of S^T and dP^T

        // A warp whose 32 keys all follow its 32 queries (or lie past the sequence) has P = dS = 0 there: it
        // writes its parts of the P^T and dS^T tiles as zeros.
        if (warpKey0 <= query0 + 31 && warpKey0 < seq) {
            float sT[2][4][4], dpT[2][4][4];
#pragma unroll
            for (int m = 0; m < 2; m++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    sT[m][j][0] = sT[m][j][1] = sT[m][j][2] = sT[m][j][3] = 0.0f;
                    dpT[m][j][0] = dpT[m][j][1] = dpT[m][j][2] = dpT[m][j][3] = 0.0f;
                }
            }
#pragma unroll
            for (int kc = 0; kc < D / 16; kc++) {
                u32 ka[2][4], va[2][4];
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    const u32 kAddr = frag_at<D>(kRowsLane, m * 16, kc * 16);
                    ldsm_x4(kAddr, ka[m][0], ka[m][1], ka[m][2], ka[m][3]);
                    ldsm_x4(kAddr + KV_BYTES, va[m][0], va[m][1], va[m][2], va[m][3]);
                }
#pragma unroll
                for (int j2 = 0; j2 < 2; j2++) {
                    u32 bf[4];
                    const u32 qAddr = frag_at<D>(qNk, qCol0 + j2 * 16, kc * 16);
                    ldsm_x4(qAddr, bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                    for (int m = 0; m < 2; m++) {
                        mma(sT[m][2 * j2], ka[m], bf[0], bf[1]);
                        mma(sT[m][2 * j2 + 1], ka[m], bf[2], bf[3]);
                    }
                    ldsm_x4(qAddr + Q_BYTES, bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                    for (int m = 0; m < 2; m++) {
                        mma(dpT[m][2 * j2], va[m], bf[0], bf[1]);
                        mma(dpT[m][2 * j2 + 1], va[m], bf[2], bf[3]);
                    }
                }
            }
            // P^T from the saved log-sum-exp; masked (key > query, query past seq) only where a warp has such
            // pairs; dS^T = P^T * (dP^T - delta).
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float2 l = *(const float2*) (lseS + qCol0 + j * 8 + 2 * t);
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    sT[m][j][0] = exp2_ftz(fmaf(sT[m][j][0], scaleLog2, -l.x * LOG2E));
                    sT[m][j][1] = exp2_ftz(fmaf(sT[m][j][1], scaleLog2, -l.y * LOG2E));
                    sT[m][j][2] = exp2_ftz(fmaf(sT[m][j][2], scaleLog2, -l.x * LOG2E));
                    sT[m][j][3] = exp2_ftz(fmaf(sT[m][j][3], scaleLog2, -l.y * LOG2E));
                }
            }
            if (warpKey0 + 31 > query0 || query0 + 32 > seq) {
#pragma unroll
                for (int m = 0; m < 2; m++) {
#pragma unroll
                    for (int j = 0; j < 4; j++) {
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            const int query = query0 + j * 8 + 2 * t + (e & 1);
                            const int key = warpKey0 + m * 16 + g + (e >> 1) * 8;
                            if (key > query || query >= seq) sT[m][j][e] = 0.0f;
                        }
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float2 d = *(const float2*) (deltaS + qCol0 + j * 8 + 2 * t);
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    dpT[m][j][0] = sT[m][j][0] * (dpT[m][j][0] - d.x);
                    dpT[m][j][1] = sT[m][j][1] * (dpT[m][j][1] - d.y);
                    dpT[m][j][2] = sT[m][j][2] * (dpT[m][j][2] - d.x);
                    dpT[m][j][3] = sT[m][j][3] * (dpT[m][j][3] - d.y);
                }
            }
            // C fragments of n-blocks 2kk, 2kk + 1 as BF16 are the A fragment of 16 keys x 16 queries.
#pragma unroll
            for (int m = 0; m < 2; m++) {
#pragma unroll
                for (int kk = 0; kk < 2; kk++) {
                    const u32 pf[4] = {pack_bf16(sT[m][2 * kk][0], sT[m][2 * kk][1]),
                                       pack_bf16(sT[m][2 * kk][2], sT[m][2 * kk][3]),
                                       pack_bf16(sT[m][2 * kk + 1][0], sT[m][2 * kk + 1][1]),
                                       pack_bf16(sT[m][2 * kk + 1][2], sT[m][2 * kk + 1][3])};
                    const u32 df[4] = {pack_bf16(dpT[m][2 * kk][0], dpT[m][2 * kk][1]),
                                       pack_bf16(dpT[m][2 * kk][2], dpT[m][2 * kk][3]),
                                       pack_bf16(dpT[m][2 * kk + 1][0], dpT[m][2 * kk + 1][1]),
                                       pack_bf16(dpT[m][2 * kk + 1][2], dpT[m][2 * kk + 1][3])};
                    store_t(pTile, keyGroup * 2 + m, half * 2 + kk, lane, pf);
                    store_t(dsTile, keyGroup * 2 + m, half * 2 + kk, lane, df);
                }
            }
        } else {
            const u32 zero[4] = {0u, 0u, 0u, 0u};
#pragma unroll
            for (int m = 0; m < 2; m++) {
#pragma unroll
                for (int kk = 0; kk < 2; kk++) {
                    store_t(pTile, keyGroup * 2 + m, half * 2 + kk, lane, zero);
                    store_t(dsTile, keyGroup * 2 + m, half * 2 + kk, lane, zero);
                }
            }
        }
        __syncthreads();
        // dV += P^T dOut, dK += dS^T Q over the tile's 64 queries, unless all 32 keys follow them.
        if (warpKey0 < m0 + BWD_M && warpKey0 < seq) {
#pragma unroll
            for (int kk = 0; kk < BWD_M / 16; kk++) {
                u32 pa[2][4], da[2][4];
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    const int row = keyGroup * 32 + m * 16;
                    ldsm_x4(frag_at<BWD_M>(pALane, row, kk * 16), pa[m][0], pa[m][1], pa[m][2], pa[m][3]);
                    ldsm_x4(frag_at<BWD_M>(dsALaneRows, row, kk * 16), da[m][0], da[m][1], da[m][2], da[m][3]);
                }
#pragma unroll
                for (int j2 = 0; j2 < ACC_COLS / 16; j2++) {
                    u32 bf[4];
                    const u32 qAddr = frag_at<D>(qKn, kk * 16, accCol0 + j2 * 16);
                    ldsm_x4_t(qAddr + Q_BYTES, bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                    for (int m = 0; m < 2; m++) {
                        mma(dvAcc[m][2 * j2], pa[m], bf[0], bf[1]);
                        mma(dvAcc[m][2 * j2 + 1], pa[m], bf[2], bf[3]);
                    }
                    ldsm_x4_t(qAddr, bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                    for (int m = 0; m < 2; m++) {
                        mma(dkAcc[m][2 * j2], da[m], bf[0], bf[1]);
                        mma(dkAcc[m][2 * j2 + 1], da[m], bf[2], bf[3]);
                    }
                }
            }
        }
        // dQ (64 queries x D) = dS (64 x 128 keys) K, dS read from the dS^T tile by ldmatrix.trans.
        float acc[2][DQ_COLS / 8][4];
#pragma unroll
        for (int m = 0; m < 2; m++) {
#pragma unroll
            for (int j = 0; j < DQ_COLS / 8; j++) acc[m][j][0] = acc[m][j][1] = acc[m][j][2] = acc[m][j][3] = 0.0f;
        }
#pragma unroll
        for (int kk = 0; kk < BWD_N / 16; kk++) {
            u32 af[2][4];
#pragma unroll
            for (int m = 0; m < 2; m++) {
                ldsm_x4_t(frag_at<BWD_M>(dsALane, kk * 16, dqGroup * 32 + m * 16), af[m][0], af[m][1], af[m][2],
                          af[m][3]);
            }
#pragma unroll
            for (int j2 = 0; j2 < DQ_COLS / 16; j2++) {
                u32 bf[4];
                ldsm_x4_t(frag_at<D>(kKnLane, kk * 16, dqCol0 + j2 * 16), bf[0], bf[1], bf[2], bf[3]);
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    mma(acc[m][2 * j2], af[m], bf[0], bf[1]);
                    mma(acc[m][2 * j2 + 1], af[m], bf[2], bf[3]);
                }
            }
        }
#pragma unroll
        for (int m = 0; m < 2; m++) {
            const int qRow = m0 + dqGroup * 32 + m * 16 + g;
            float* dqRow = dqAccum + ((long long) b * seq + qRow) * ldq + h * D + dqCol0 + 2 * t;
#pragma unroll
            for (int j = 0; j < DQ_COLS / 8; j++) {
                if (qRow < seq) red_add2(dqRow + j * 8, acc[m][j][0], acc[m][j][1]);
                if (qRow + 8 < seq) red_add2(dqRow + 8LL * ldq + j * 8, acc[m][j][2], acc[m][j][3]);
            }
        }
    }

#pragma unroll
    for (int m = 0; m < 2; m++) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int key = warpKey0 + m * 16 + g + r * 8;
            if (key < seq) {
                const long long off = ((long long) b * seq + key) * ldk + kvh * D + accCol0 + 2 * t;
#pragma unroll
                for (int j = 0; j < ACC_COLS / 8; j++) {
                    *(u32*) (dk + off + j * 8) = pack_bf16(dkAcc[m][j][2 * r] * scale, dkAcc[m][j][2 * r + 1] * scale);
                    *(u32*) (dv + off + j * 8) = pack_bf16(dvAcc[m][j][2 * r], dvAcc[m][j][2 * r + 1]);
                }
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
