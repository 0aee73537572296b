// float8j's own FP8 gemm on Hopper (sm_90a): D [M][N] = (scaleA[m] scaleB[n]) (A Bᵀ)[m][n], A [M][K] and B [N][K]
// E4M3 codes with K contiguous (the layout every FP8 operand of float8j's device gemms has), the scales the operands'
// inverse scales (one per tensor, or one per row for rowwise), applied once, in the epilogue. D BF16 or F32.
//
// Why: cuBLASLt's rowwise (outer-vector) FP8 kernels run 6-18% slower than its tensorwise ones at the Llama step's
// shapes on an H100 (benchmarks/results/gpu.md, eighth session), and it refuses the tensorwise kernels' tiling with
// outer-vector scales. Scales applied in the epilogue leave the main loop the same for both, so a kernel of our own
// can run rowwise at tensorwise's speed.
//
// The design of attention_sm90.cu's kernels: a producer warpgroup loads tiles by TMA into a ring of GEMM_STAGES
// stages guarded by full and empty mbarriers, and gives its registers to two consumer warpgroups, each of which
// multiplies 64 rows of the block's A tile by the whole B tile with wgmma m64n256k32 (E4M3 x E4M3, F32 accumulators:
// 128 registers a thread). Tiles in the 128-byte swizzle: a stage's A tile is GEMM_BM rows of 128 codes (one
// 128-byte row each), B's GEMM_BN rows, both K-major, which is the only major-ness wgmma takes for 8-bit types; a
// K step of 32 codes starts 32 bytes further along the rows (desc_k).
//
// The tensor core sums FP8 products in a narrower accumulator before adding them to the F32 registers, which is what
// cuBLASLt calls fast accumulation; CudaGemms runs this kernel only where fast accumulation was asked for.
#include "hopper.cuh"

#define GEMM_BM 128  // rows of A and D a block owns: 64 per consumer warpgroup
#define GEMM_BN 256  // rows of B (columns of D) a block owns
#define GEMM_BK 128  // codes of K a stage holds: one 128-byte swizzled row
#define GEMM_STAGES 4
// Two consumer warpgroups (threads 0-255), then a producer warpgroup. setmaxnreg moves registers from the producer
// (24 a thread) to the consumers (240) within what the launch gave the block, 384 x 168 = 64,512 = 128 x 24 + 256 x
// 240: a consumer's setmaxnreg.inc waits until the block's pool holds what it asks for, so asking more never returns.
#define GEMM_THREADS 384
#define GEMM_CONSUMER_THREADS 256
#define GEMM_A_BYTES (GEMM_BM * GEMM_BK)
#define GEMM_B_BYTES (GEMM_BN * GEMM_BK)
// Rows of tiles walked together (all their columns of tiles, a column of rows at a time): see tile_origin.
#define GEMM_GROUP_ROWS 8

#define ACC128(d) ACC64(d), ACC8(d, 64), ACC8(d, 72), ACC8(d, 80), ACC8(d, 88), ACC8(d, 96), ACC8(d, 104), \
        ACC8(d, 112), ACC8(d, 120)
#define LIST128 LIST64 ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"

// d (64 x 256) += A (64 x 32) B (256 x 32)ᵀ, both E4M3 K-major in shared memory.
__device__ __forceinline__ void wgmma_e4m3_n256(float (&d)[128], u64 a, u64 b) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n256k32.f32.e4m3.e4m3 {" LIST128 "}, %128, %129, 1, 1, 1;\n"
                 : ACC128(d)
                 : "l"(a), "l"(b));
}

// A ring of stages' mbarriers at bars, 16 bytes a stage: full (the producer's loads have landed: one arrival and
// their bytes) and empty (the consumers are done with the stage: one arrival per consumer warp).
struct StageBarriers {
    u32 bars;
    __device__ __forceinline__ u32 full(int st) const { return bars + 16 * st; }
    __device__ __forceinline__ u32 empty(int st) const { return bars + 16 * st + 8; }
    // thread 0 initializes them; then the whole block waits
    __device__ __forceinline__ void init(int stages) const {
        if (threadIdx.x == 0) {
            for (int st = 0; st < stages; st++) {
                mbar_init(full(st), 1);
                mbar_init(empty(st), 8);  // one arrival per consumer warp
            }
            asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        }
        __syncthreads();
    }
    // One arrival per consumer warp: wgmma.wait_group has synchronized the warp, so all its reads of the stage are
    // done.
    __device__ __forceinline__ void release(int st) const {
        __syncwarp();
        if ((threadIdx.x & 31) == 0) mbar_arrive(empty(st));
    }
};

// Stores D's elements (row, col) and (row, col + 1), at flat index at, as F32 or BF16 (col even, so 8 or 4 bytes
// aligned).
__device__ __forceinline__ void store_pair(void* d, int dType, long long at, float x0, float x1) {
    if (dType == DT_F32) {
        *(float2*) ((float*) d + at) = make_float2(x0, x1);
    } else {
        *(u32*) ((u16*) d + at) = (u32) bf16_from_float(x0) | (u32) bf16_from_float(x1) << 16;
    }
}

// Where tile `tile` of D starts, in the order the blocks take tiles: GEMM_GROUP_ROWS rows of tiles at a time, down
// each column of that group before the next column, so that the tiles in flight at once share their A and B tiles in
// L2.
__device__ __forceinline__ void tile_origin(int tile, int tilesM, int tilesN, int bm, int bn, int& m0, int& n0) {
    const int perGroup = GEMM_GROUP_ROWS * tilesN;
    const int firstM = tile / perGroup * GEMM_GROUP_ROWS;
    const int groupRows = min(GEMM_GROUP_ROWS, tilesM - firstM);
    const int within = tile % perGroup;
    m0 = (firstM + within % groupRows) * bm;
    n0 = within / groupRows * bn;
}

// The frame both gemms run in. A producer warpgroup, whose first thread walks the block's tiles (blockIdx.x, +
// gridDim.x, ... in tile_origin's order, tiles of GEMM_BM x bn) and their kTiles stages, waiting for each stage of the
// ring to be empty before load(st, kt, m0, n0) fills it; it gives its registers to two consumer warpgroups, which run
// consume(m0, n0, n) for each tile, n counting the stages the block loaded before the tile's first (load n's stage
// held load n - STAGES, released in that round's phase of the empty barrier) and left kTiles on by consume. The ring
// of stages runs on across a block's tiles, so the producer loads the next tile's first stages while the consumers
// finish the current one.
template <int STAGES, typename Load, typename Consume>
__device__ __forceinline__ void producer_and_consumers(const StageBarriers& ring, int tilesM, int tilesN, int bn,
                                                       int kTiles, Load&& load, Consume&& consume) {
    const int tiles = tilesM * tilesN;
    if (threadIdx.x >= GEMM_CONSUMER_THREADS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
        if (threadIdx.x == GEMM_CONSUMER_THREADS) {
            int n = 0;
#pragma unroll 1
            for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
                int m0, n0;
                tile_origin(tile, tilesM, tilesN, GEMM_BM, bn, m0, n0);
#pragma unroll 1
                for (int kt = 0; kt < kTiles; kt++, n++) {
                    const int st = n % STAGES;
                    mbar_wait(ring.empty(st), ((n / STAGES) & 1) ^ 1);
                    load(st, kt, m0, n0);
                }
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
    int n = 0;
#pragma unroll 1
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        int m0, n0;
        tile_origin(tile, tilesM, tilesN, GEMM_BM, bn, m0, n0);
        consume(m0, n0, n);
    }
}

// Grid: at most one block per multiprocessor (the host's choice), each taking tiles blockIdx.x, + gridDim.x, ... in
// tile_origin's order; GEMM_THREADS threads; dynamic shared memory GEMM_STAGES stages of an A and a B tile, then the
// mbarriers, plus 1024 for the alignment; producer_and_consumers' frame (the first form, a block per tile, waited for
// every tile's first loads: on an H200 it ran at 1,175 TFLOP/s where cuBLASLt ran at 1,477, 16384 x 4096 x 4096).
// aMap and bMap: CUtensorMaps of the codes, data type UINT8 (0), rank 2, dims {K, rows}, stride (bytes) {the
// operand's leading dimension}, boxes {GEMM_BK, GEMM_BM} and {GEMM_BK, GEMM_BN}, swizzle 128B: rows and K past the
// ends come back as zeros, which add nothing. scaleA holds M inverse scales (scaleAPerRow) or one, scaleB N or one;
// d is row-major [M][N] (N even), dType DT_F32 or DT_BF16.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, 1) gemm_e4m3_sm90(
        const __grid_constant__ TensorMap aMap, const __grid_constant__ TensorMap bMap, const float* scaleA,
        int scaleAPerRow, const float* scaleB, int scaleBPerRow, void* d, int dType, int M, int N, int K) {
    extern __shared__ __align__(1024) unsigned char smem[];
    const u32 aRing = smem_base1024(smem), bRing = aRing + GEMM_STAGES * GEMM_A_BYTES;
    const StageBarriers ring{bRing + GEMM_STAGES * GEMM_B_BYTES};
    const int tilesM = (M + GEMM_BM - 1) / GEMM_BM, tilesN = (N + GEMM_BN - 1) / GEMM_BN;
    const int kTiles = (K + GEMM_BK - 1) / GEMM_BK;
    ring.init(GEMM_STAGES);
    const int c = threadIdx.x >> 7, lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3, g = lane >> 2,
              t = lane & 3;

    producer_and_consumers<GEMM_STAGES>(ring, tilesM, tilesN, GEMM_BN, kTiles, [&](int st, int kt, int m0, int n0) {
        mbar_arrive_expect_tx(ring.full(st), GEMM_A_BYTES + GEMM_B_BYTES);
        tma_load_2d(aRing + st * GEMM_A_BYTES, aMap, kt * GEMM_BK, m0, ring.full(st));
        tma_load_2d(bRing + st * GEMM_B_BYTES, bMap, kt * GEMM_BK, n0, ring.full(st));
    }, [&](int m0, int n0, int& n) {
        float acc[128];
#pragma unroll
        for (int i = 0; i < 128; i++) acc[i] = 0.0f;
#pragma unroll 1
        for (int kt = 0; kt < kTiles; kt++, n++) {
            const int st = n % GEMM_STAGES;
            mbar_wait(ring.full(st), (n / GEMM_STAGES) & 1);
            const u32 aTile = aRing + st * GEMM_A_BYTES + c * 64 * GEMM_BK, bTile = bRing + st * GEMM_B_BYTES;
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < GEMM_BK / 32; kk++) {
                wgmma_e4m3_n256(acc, desc_k(aTile + 32 * kk), desc_k(bTile + 32 * kk));
            }
            wg_commit();
            // keeps this stage's products in flight while the previous stage's, now done, give their stage back
            wg_wait<1>();
            if (kt > 0) ring.release((n - 1) % GEMM_STAGES);
        }
        wg_wait<0>();
        // the tile's last stage goes back before the epilogue, so the producer can refill it for the next tile
        ring.release((n - 1) % GEMM_STAGES);
        hold(acc);

        // Accumulator register 4j + e holds row g + 8 (e >> 1), column 8j + 2t + (e & 1) of the warp's 16 rows.
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = m0 + 64 * c + 16 * warp + g + 8 * r;
            if (row >= M) continue;
            const float sa = scaleA[scaleAPerRow ? row : 0];
#pragma unroll
            for (int j = 0; j < 32; j++) {
                const int col = n0 + 8 * j + 2 * t;
                if (col >= N) continue;
                // N is even and col too, so a rowwise scale pair is 8-byte aligned
                const float2 sb = scaleBPerRow ? *(const float2*) (scaleB + col) : make_float2(scaleB[0], scaleB[0]);
                const float x0 = acc[4 * j + 2 * r] * sa * sb.x, x1 = acc[4 * j + 2 * r + 1] * sa * sb.y;
                store_pair(d, dType, (long long) row * N + col, x0, x1);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------------------------------
// Block scales: D [M][N] = sum over K blocks kb of (sA(m, kb) sB(n, kb)) (A Bᵀ restricted to kb)[m][n], the scales the
// operands' inverse scales per 128 codes of K: 1x128 tiles (one per row and K block; kind 0, the array [kb][ld], rows
// fastest) or 128x128 blocks (one per 128 rows and K block; kind 1, the array [row / 128][ld], K blocks fastest), the
// layouts DeviceFloat8 keeps for cuBLASLt.
//
// A K block is one stage (GEMM_BK = 128 codes). Each consumer warpgroup multiplies its 64 rows of the stage's A tile
// by the stage's 128 rows of B into partial sums (four wgmma m64n128k32, the first overwriting), waits for them, and
// adds them, times the block's scales, into F32 sums of its own: the tensor core's narrower accumulation spans only
// 128 products, as in DeepSeek-V3's recipe, however long K is. B's tile is 128 rows, not 256, so that two sets of partial
// sums and the promoted sums (64 registers each) fit in a consumer's 240 registers: a block's products are issued
// before the previous block's are promoted.

#define BLOCK_GEMM_BN 128
#define BLOCK_GEMM_STAGES 6
#define BLOCK_GEMM_B_BYTES (BLOCK_GEMM_BN * GEMM_BK)
// A stage's column scales of B in 1x128 tiles: one float per row of B's tile.
#define BLOCK_GEMM_SCALE_BYTES (BLOCK_GEMM_BN * 4)

// d (64 x 128) = A (64 x 32) B (128 x 32)ᵀ, plus d where accumulate is not 0, both E4M3 K-major in shared memory.
__device__ __forceinline__ void wgmma_e4m3_n128(float (&d)[64], u64 a, u64 b, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {" LIST64 "}, %64, %65, p, 1, 1;\n}\n"
                 : ACC64(d)
                 : "l"(a), "l"(b), "r"(accumulate));
}

// The inverse scale of row (or column) r for K block kb, in the layout of kind (see above); 0 past the operand's
// rows, whose codes TMA reads as zeros.
__device__ __forceinline__ float block_scale(const float* s, int kind, int ld, int r, int rows, int kb) {
    if (r >= rows) return 0.0f;
    return kind == 0 ? s[(long) kb * ld + r] : s[(long) (r >> 7) * ld + kb];
}

// Grid, threads, tensor maps and d as gemm_e4m3_sm90's, with BLOCK_GEMM_BN rows of B a tile and BLOCK_GEMM_STAGES
// stages (bMap's box {GEMM_BK, BLOCK_GEMM_BN}). scaleA of kind aKind with stride ldA, scaleB of kind B_KIND with stride
// ldB; N even. A template on B's kind: with 128x128 blocks a tile has one scale of B a K block, which each thread
// holds; with 1x128 tiles it has 128, which come with each stage's codes into shared memory (in registers, a thread's
// 32 and the next block's spilled).
template <int B_KIND>
__device__ __forceinline__ void gemm_block(const TensorMap& aMap, const TensorMap& bMap, const float* scaleA, int aKind,
                                           int ldA, const float* scaleB, int ldB, void* d, int dType, int M, int N,
                                           int K) {
    extern __shared__ __align__(1024) unsigned char blockSmem[];
    const u32 aRing = smem_base1024(blockSmem), bRing = aRing + BLOCK_GEMM_STAGES * GEMM_A_BYTES;
    const u32 scaleRing = bRing + BLOCK_GEMM_STAGES * BLOCK_GEMM_B_BYTES;
    const StageBarriers ring{scaleRing + BLOCK_GEMM_STAGES * BLOCK_GEMM_SCALE_BYTES};
    // the scale ring as a pointer the consumers read through
    const float* stageScales = (const float*) (blockSmem + (scaleRing - shared_address(blockSmem)));
    const int tilesM = (M + GEMM_BM - 1) / GEMM_BM, tilesN = (N + BLOCK_GEMM_BN - 1) / BLOCK_GEMM_BN;
    const int kTiles = (K + GEMM_BK - 1) / GEMM_BK;
    ring.init(BLOCK_GEMM_STAGES);
    const int c = threadIdx.x >> 7, lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3, g = lane >> 2,
              t = lane & 3;

    producer_and_consumers<BLOCK_GEMM_STAGES>(ring, tilesM, tilesN, BLOCK_GEMM_BN, kTiles,
                                              [&](int st, int kt, int m0, int n0) {
        // with 1x128 tiles, B's column scales for the block come with its codes: the columns up to the scale array's
        // row stride (ldB - n0 is a multiple of 16, so the bytes are of 64; the consumers read no scale of a column
        // past N)
        const u32 scaleBytes = B_KIND == 0 ? 4 * min(BLOCK_GEMM_BN, ldB - n0) : 0;
        mbar_arrive_expect_tx(ring.full(st), GEMM_A_BYTES + BLOCK_GEMM_B_BYTES + scaleBytes);
        tma_load_2d(aRing + st * GEMM_A_BYTES, aMap, kt * GEMM_BK, m0, ring.full(st));
        tma_load_2d(bRing + st * BLOCK_GEMM_B_BYTES, bMap, kt * GEMM_BK, n0, ring.full(st));
        if (B_KIND == 0) {
            bulk_load(scaleRing + st * BLOCK_GEMM_SCALE_BYTES, scaleB + (long) kt * ldB + n0, scaleBytes,
                      ring.full(st));
        }
    }, [&](int m0, int n0, int& n) {
        // Accumulator register 4j + e holds row g + 8 (e >> 1), column 8j + 2t + (e & 1) of the warp's 16 rows.
        const int row0 = m0 + 64 * c + 16 * warp + g;
        // Two sets of partial sums, so that the next K block's products are issued before this one's are scaled and
        // added: the tensor core works on them while the warpgroup promotes. (With one set, both warpgroups waited
        // for their products and then scaled them at the same time, and the tensor core stood idle meanwhile:
        // 714-832 TFLOP/s on an H100 where cuBLASLt ran at 998-1,051 for 1x128 x 1x128.) 192 registers of sums:
        // within the 240 setmaxnreg gives a consumer thread. ptxas needs no in-flight sums carried across the loop's
        // back edge other than partA's: with the pairs' loop leaving by a second exit it copied sums there and
        // serialized the products.
        float acc[64], partA[64], partB[64];
#pragma unroll
        for (int i = 0; i < 64; i++) acc[i] = 0.0f;
        // The scales of each block's two rows of A, and with 128x128 blocks B's one, loaded as the block's products
        // are issued, a block before their use, so that their latency passes under the products. With 1x128 tiles
        // B's column scales come with the stage (the producer's bulk copy).
        float saA[2], saB[2], sbA = 0.0f, sbB = 0.0f;
        // Waits for load nn's stage, issues K block kt's products into part and loads its scales.
        auto issue = [&](float (&part)[64], float (&sa)[2], float& sb, int kt, int nn) {
            const int st = nn % BLOCK_GEMM_STAGES;
            mbar_wait(ring.full(st), (nn / BLOCK_GEMM_STAGES) & 1);
            const u32 aTile = aRing + st * GEMM_A_BYTES + c * 64 * GEMM_BK, bTile = bRing + st * BLOCK_GEMM_B_BYTES;
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < GEMM_BK / 32; kk++) {
                wgmma_e4m3_n128(part, desc_k(aTile + 32 * kk), desc_k(bTile + 32 * kk), kk);
            }
            wg_commit();
            sa[0] = block_scale(scaleA, aKind, ldA, row0, M, kt);
            sa[1] = block_scale(scaleA, aKind, ldA, row0 + 8, M, kt);
            if (B_KIND == 1) sb = block_scale(scaleB, 1, ldB, n0, N, kt);
        };
        // Adds load nn's products, done, times their scales into acc, and gives the stage back.
        auto promote = [&](float (&part)[64], const float (&sa)[2], float sb, int nn) {
            hold(part);
            const int st = nn % BLOCK_GEMM_STAGES;
            const float* columnScales = stageScales + st * BLOCK_GEMM_BN;
#pragma unroll
            for (int j = 0; j < 16; j++) {
                // Past N the stage holds stale scales (or none yet): those columns' sums are never stored, so they may
                // take anything. (A guard that read 0 there held 10 more registers, which ptxas spilled.)
                const float2 b = B_KIND == 1 ? make_float2(sb, sb) : *(const float2*) (columnScales + 8 * j + 2 * t);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    acc[4 * j + e] = fmaf(part[4 * j + e], sa[e >> 1] * (e & 1 ? b.y : b.x), acc[4 * j + e]);
                }
            }
            ring.release(st);
        };
        // Blocks alternate between the two sets: even ones in partA, odd ones in partB. Load n + kt brought block kt.
        issue(partA, saA, sbA, 0, n);
        int kt = 0;
#pragma unroll 1
        for (; kt + 2 < kTiles; kt += 2) {
            issue(partB, saB, sbB, kt + 1, n + kt + 1);
            wg_wait<1>();
            promote(partA, saA, sbA, n + kt);
            issue(partA, saA, sbA, kt + 2, n + kt + 2);
            wg_wait<1>();
            promote(partB, saB, sbB, n + kt + 1);
        }
        // one block left (in partA) or two
        if (kt + 1 < kTiles) {
            issue(partB, saB, sbB, kt + 1, n + kt + 1);
            wg_wait<1>();
            promote(partA, saA, sbA, n + kt);
            wg_wait<0>();
            promote(partB, saB, sbB, n + kt + 1);
        } else {
            wg_wait<0>();
            promote(partA, saA, sbA, n + kt);
        }
        n += kTiles;

#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = row0 + 8 * r;
            if (row >= M) continue;
#pragma unroll
            for (int j = 0; j < 16; j++) {
                const int col = n0 + 8 * j + 2 * t;
                if (col >= N) continue;
                store_pair(d, dType, (long long) row * N + col, acc[4 * j + 2 * r], acc[4 * j + 2 * r + 1]);
            }
        }
    });
}

// B in 128x128 blocks (the output gemm's weight, grad_input's transposed weight).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, 1) gemm_block_e4m3_sm90(
        const __grid_constant__ TensorMap aMap, const __grid_constant__ TensorMap bMap, const float* scaleA, int aKind,
        int ldA, const float* scaleB, int ldB, void* d, int dType, int M, int N, int K) {
    gemm_block<1>(aMap, bMap, scaleA, aKind, ldA, scaleB, ldB, d, dType, M, N, K);
}

// B in 1x128 tiles (grad_weight's transposed input).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS, 1) gemm_block_tiles_e4m3_sm90(
        const __grid_constant__ TensorMap aMap, const __grid_constant__ TensorMap bMap, const float* scaleA, int aKind,
        int ldA, const float* scaleB, int ldB, void* d, int dType, int M, int N, int K) {
    gemm_block<0>(aMap, bMap, scaleA, aKind, ldA, scaleB, ldB, d, dType, M, N, K);
}
