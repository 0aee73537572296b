// Fused causal self-attention for head dim 128 on Hopper (sm_90a), forward and backward: the same contract as
// attention.cu's kernels (layouts, lse, the backward's delta and dqAccum), with the matrix products on wgmma, the
// warpgroup-wide asynchronous tensor-core instruction that reads its operands from shared memory by descriptor.
// attention.cu's mma.sync kernels reach about half the rate cuDNN gets from this chip's tensor cores: each mma.sync
// takes its operands from registers, loaded from shared memory by ldmatrix, and that pipe was their limiter.
//
// Shared-memory tiles: rows of 128 BF16 values stored as two panels of 64 columns, each panel [rows][128 bytes]
// with the 128-byte swizzle (16-byte chunk c of row r at chunk c ^ (r & 7)), panels and tiles 1024-byte aligned.
// That is wgmma's canonical 128-byte-swizzled layout:
//   - K-major (the product's K runs along the row, as Q and K do in Q K^T): 8-row groups 1024 bytes apart; a
//     16-wide K step starts 32 bytes further along the row, and the next 64 K values are the next panel.
//   - MN-major (M or N runs along the row, as V's columns do in P V): each row is one K value; 8-row groups
//     1024 bytes apart, the panels of 64 M/N values a tile's panel apart.
//
// wgmma m64nNk16 fragments (warp w of a warpgroup holds rows 16w..16w+15; lane = 4g + t): accumulator register
// 4j + e holds row g + 8 (e >> 1), column 8j + 2t + (e & 1); an A operand in registers holds {a0a1, a2a3, a4a5,
// a6a7} = rows (g, g + 8, g, g + 8) x columns (2t, 2t, 2t + 8, 2t + 8) (+1). So accumulator registers 8kk..8kk+7,
// paired and rounded to BF16, are the A operand of K step kk of the next product: P feeds P V from registers.
//
// The tiles are loaded by TMA (the tensor-memory accelerator, cp.async.bulk.tensor) from a producer warpgroup that
// does nothing else, into rings of stages guarded by mbarriers, so that the warpgroups that multiply never wait at a
// block-wide barrier for loads. The first form of these kernels had every thread load with cp.async between
// __syncthreads: at B4 S4096 32/8 heads on an H100 its forward took 1.44-1.55 ms and its backward 4.3-4.7 ms (cuDNN
// 0.92 and 3.23), against 0.90-0.93 and 3.08-3.15 ms here; benchmarks/results/gpu.md has the designs measured.

#include "attention.cuh"
#include "hopper.cuh"

#define HEAD_DIM 128

// Backward: blocks of two warpgroups owning 64 keys each, walking query tiles of 64.
#define BWD_KEYS 128
#define BWD_QUERIES 64

// Byte offset of element (row, col), col a multiple of 8, in a tile of ROWS rows x 128 columns (two panels).
template <int ROWS>
__device__ __forceinline__ u32 sw128(int row, int col) {
    return (u32) ((col >> 6) * ROWS * 128 + row * 128 + ((((col >> 3) & 7) ^ (row & 7)) << 4));
}

// d (64 x 64) = (accumulate ? d : 0) + A B; TA / TB: A / B MN-major (1) or K-major (0).
template <int TA, int TB>
__device__ __forceinline__ void wgmma_n64(float (&d)[32], u64 a, u64 b, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" LIST32 "}, %32, %33, p, 1, 1, %35, %36;\n}\n"
                 : ACC32(d)
                 : "l"(a), "l"(b), "r"(accumulate), "n"(TA), "n"(TB));
}

// d (64 x 128) += A B, A in registers (see the fragment layout above), B MN-major in shared memory.
__device__ __forceinline__ void wgmma_n128_rs(float (&d)[64], const u32 (&a)[4], u64 b) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" LIST64 "}, {%64, %65, %66, %67}, %68, "
                 "1, 1, 1, 1;\n"
                 : ACC64(d)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

// Accumulator registers 8kk..8kk+7 as the BF16 A operand of K step kk.
template <int N>
__device__ __forceinline__ void to_a_operands(const float* x, u32 (&a)[N][4]) {
#pragma unroll
    for (int kk = 0; kk < N; kk++) {
        a[kk][0] = pack_bf16(x[8 * kk], x[8 * kk + 1]);
        a[kk][1] = pack_bf16(x[8 * kk + 2], x[8 * kk + 3]);
        a[kk][2] = pack_bf16(x[8 * kk + 4], x[8 * kk + 5]);
        a[kk][3] = pack_bf16(x[8 * kk + 6], x[8 * kk + 7]);
    }
}

// The largest and the sum of a thread's values of row r (registers 4j + 2r, + 1 for j < J) as trees of four
// independent chains: one serial chain of J * 2 dependent instructions would stall each warp for every one's latency.
template <int J>
__device__ __forceinline__ float row_max(const float* x, int r) {
    float m[4];
#pragma unroll
    for (int c = 0; c < 4; c++) m[c] = fmaxf(x[4 * c + 2 * r], x[4 * c + 2 * r + 1]);
#pragma unroll
    for (int j = 4; j < J; j++) m[j & 3] = fmaxf(m[j & 3], fmaxf(x[4 * j + 2 * r], x[4 * j + 2 * r + 1]));
    return fmaxf(fmaxf(m[0], m[1]), fmaxf(m[2], m[3]));
}

template <int J>
__device__ __forceinline__ float row_sum(const float* x, int r) {
    float a[4];
#pragma unroll
    for (int c = 0; c < 4; c++) a[c] = x[4 * c + 2 * r] + x[4 * c + 2 * r + 1];
#pragma unroll
    for (int j = 4; j < J; j++) a[j & 3] += x[4 * j + 2 * r] + x[4 * j + 2 * r + 1];
    return (a[0] + a[1]) + (a[2] + a[3]);
}

// The unit (a head, or a batch's kv head) and item (a block of queries or keys, 0 the longest) of block `index` of a
// one-dimensional grid of units * items blocks, which the hardware dispatches in index order: units are taken `band`
// at a time, and within a band item i of every unit comes before item i + 1 of any. Longest first keeps the last
// blocks to start short, so that the multiprocessors finish together; a band bounds how many units' tiles the blocks
// running at once read, so that they share them in L2. band 1 is each unit's items in turn, band >= units longest
// first across the whole grid.
__device__ __forceinline__ void banded_block(int index, int units, int items, int band, int& unit, int& item) {
    const int first = index / (band * items) * band;  // the band's first unit; the last band may be narrower
    const int width = min(band, units - first);
    const int within = index - first * items;
    item = within / width;
    unit = first + within % width;
}

// ---------------------------------------------------------------------------------------------- forward

// Warpgroup 0 is a producer whose one thread moves every tile by TMA; the other warpgroups only wait on mbarriers and
// compute, with no block-wide barrier in the loop. The K and V tiles rotate through rings of WS_STAGES stages each,
// every stage with a "full" mbarrier (the producer's expected byte count, completed by the copies) and an "empty" one
// (one arrival per consumer warp once its products have read the stage). K and V have separate rings because step n
// reads K_n and V_{n-1}: K_n is free once S_n is done, V_{n-1} once P_{n-1} V_{n-1} is.
//
// The products overlap the softmax: step n issues S_n = Q K_n^T and then O += P_{n-1} V_{n-1}, waits for S_n only,
// and computes the softmax of S_n while the tensor cores run P_{n-1} V_{n-1}; it waits for that before rescaling O.
//
// The tiles are described by tensor maps (CUtensorMap, 128 bytes) the host encodes with cuTensorMapEncodeTiled, one
// per tensor, passed by value:
//   q (heads = heads), k and v (heads = kvHeads): data type BF16 (9), rank 3, global address the tensor's base,
//   dims {heads * 128, seq, batch}, strides (bytes, dims 1 and 2) {heads * 256, seq * heads * 256}, box {64, 64, 1},
//   element strides {1, 1, 1}, interleave none (0), swizzle 128B (3), L2 promotion 256B (3), OOB fill none (0).
// A box is one 64-column panel of 64 rows in the 128-byte swizzle, the tiles' layout above when its destination is
// 1024-byte aligned; rows past the sequence (dim 1) come back as zeros.
//
// Measured on an H100 at B4 S4096 32/8 heads: 2 consumer warpgroups x 64 rows, tiles of 128 keys, two stages per ring
// 0.91 ms (the cp.async form 1.46 ms in the same run); three stages 0.92 ms; the two consumer warpgroups' products
// issued in turns (named barriers, so that one's softmax runs under the other's products) 1.25 ms: each warpgroup
// already overlaps its own softmax with its P V.
#define WS_WGS 2  // consumer warpgroups, 64 query rows each
#define WS_KEYS 128
#define WS_STAGES 2
#define WS_ROWS (64 * WS_WGS)
#define WS_THREADS (128 * (WS_WGS + 1))

// Rows [row0, row0 + ROWS) of one head's 128 columns into a tile of two panels: ROWS / 64 boxes per panel.
template <int ROWS>
__device__ __forceinline__ void tma_tile(u32 tile, const TensorMap& map, int col0, int row0, int batch, u32 bar) {
#pragma unroll
    for (int panel = 0; panel < 2; panel++) {
#pragma unroll
        for (int r = 0; r < ROWS; r += 64) {
            tma_load(tile + panel * ROWS * 128 + r * 128, map, col0 + 64 * panel, row0 + r, batch, bar);
        }
    }
}

// d (64 x 128) = (accumulate ? d : 0) + A B, both in shared memory, K-major.
__device__ __forceinline__ void wgmma_n128_ss(float (&d)[64], u64 a, u64 b, int accumulate) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" LIST64 "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : ACC64(d)
                 : "l"(a), "l"(b), "r"(accumulate));
}

// Grid batch * heads * ceil(seq / WS_ROWS) blocks in banded_block's order (units: the heads of every batch, in
// order, so that a kv group's heads are neighbours; items: query blocks, the last one the longest), WS_THREADS
// threads; dynamic shared memory: the Q tile (WS_ROWS rows), WS_STAGES K tiles, WS_STAGES V tiles (WS_KEYS rows
// each), then the mbarriers, plus 1024 for the alignment. Ordering the query blocks longest first across the whole
// grid measured 1-4% slower on an H200 (B4 S4096 32/8 heads, 0.99-1.08 ms against 0.98-1.04 for each head's blocks
// in turn): the blocks running at once then belong to all 32 kv groups, whose K and V (64 MB) overflow the 50 MB L2;
// each head in turn leaves a tail, 3.5% of the kernel in a simulation of 132 multiprocessors taking blocks in
// dispatch order, that bands of two kv groups' heads remove. On one H100 (100 calls, two rounds) bands of 8 heads
// took 0.990-1.017 ms and each head in turn 1.013-1.028: the same within the noise. q, k and v come as tensor maps;
// out and lse as attention.cu's forward writes them, and *amax (null: none) out's absolute maximum.
// Consumer warpgroup c (warpgroup c + 1) owns query rows 64c..64c+63 of the block; thread (warp, g) rows 16 warp + g
// and + 8 of those.
//
// Registers: the producer needs a handful, so it gives them up (setmaxnreg) and the consumers take them: 64
// accumulators of O, 64 of S and 32 of P per thread.
extern "C" __global__ void __launch_bounds__(WS_THREADS, 1) attention_forward_sm90_ws_d128(
        const __grid_constant__ TensorMap qMap, const __grid_constant__ TensorMap kMap,
        const __grid_constant__ TensorMap vMap, u16* out, float* lse, int seq, int heads, int kvHeads,
        float scaleLog2, int batch, int band, u32* amax) {
    extern __shared__ __align__(1024) unsigned char smem[];
    constexpr int Q_BYTES = WS_ROWS * HEAD_DIM * 2, KV_BYTES = WS_KEYS * HEAD_DIM * 2;
    constexpr int S_REGS = WS_KEYS / 2;
    static_assert(WS_KEYS == 128, "the scores are one m64n128 product per K step");
    const u32 qTile = smem_base1024(smem);
    const u32 kRing = qTile + Q_BYTES, vRing = kRing + WS_STAGES * KV_BYTES;
    // 8-byte mbarriers: Q full, then per stage K full, K empty, V full, V empty.
    const u32 qFull = vRing + WS_STAGES * KV_BYTES;
    auto kFull = [&](int st) { return qFull + 8 + 32 * st; };
    auto kEmpty = [&](int st) { return qFull + 16 + 32 * st; };
    auto vFull = [&](int st) { return qFull + 24 + 32 * st; };
    auto vEmpty = [&](int st) { return qFull + 32 + 32 * st; };
    const int wg = threadIdx.x >> 7;
    const int mBlocks = (seq + WS_ROWS - 1) / WS_ROWS;
    int unit, item;
    banded_block(blockIdx.x, batch * heads, mBlocks, band, unit, item);
    const int mBlock = mBlocks - 1 - item;
    const int b = unit / heads, h = unit % heads, kvh = h / (heads / kvHeads);
    const int q0 = mBlock * WS_ROWS;
    const int tiles = (min(seq, q0 + WS_ROWS) - 1) / WS_KEYS + 1;

    if (threadIdx.x == 0) {
        mbar_init(qFull, 1);
        for (int st = 0; st < WS_STAGES; st++) {
            mbar_init(kFull(st), 1);
            mbar_init(kEmpty(st), 4 * WS_WGS);
            mbar_init(vFull(st), 1);
            mbar_init(vEmpty(st), 4 * WS_WGS);
        }
        // Makes the initialized barriers visible to the copies' completions (the async proxy).
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
        if (threadIdx.x == 0) {
            mbar_arrive_expect_tx(qFull, Q_BYTES);
            tma_tile<WS_ROWS>(qTile, qMap, h * HEAD_DIM, q0, b, qFull);
            // Tile n's stage held tile n - WS_STAGES, released in that round's phase of the empty barrier.
#pragma unroll 1
            for (int n = 0; n < tiles; n++) {
                const int st = n % WS_STAGES;
                const u32 parity = ((n / WS_STAGES) & 1) ^ 1;
                mbar_wait(kEmpty(st), parity);
                mbar_arrive_expect_tx(kFull(st), KV_BYTES);
                tma_tile<WS_KEYS>(kRing + st * KV_BYTES, kMap, kvh * HEAD_DIM, n * WS_KEYS, b, kFull(st));
                mbar_wait(vEmpty(st), parity);
                mbar_arrive_expect_tx(vFull(st), KV_BYTES);
                tma_tile<WS_KEYS>(vRing + st * KV_BYTES, vMap, kvh * HEAD_DIM, n * WS_KEYS, b, vFull(st));
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");

    const int c = wg - 1, lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3, g = lane >> 2, t = lane & 3;
    const int wgRow0 = q0 + 64 * c, row0 = wgRow0 + 16 * warp + g;
    // One arrival per warp: wgmma.wait_group has synchronized the warp, so all its reads of the stage are done.
    auto release = [&](u32 bar) {
        __syncwarp();
        if (lane == 0) mbar_arrive(bar);
    };

    float o[64];
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.0f;
    float rowMax[2] = {NEG_INF, NEG_INF}, rowSum[2] = {0.0f, 0.0f};
    u32 p[WS_KEYS / 16][4];
    const u32 qRows = qTile + 64 * c * 128;
    auto multiply_pv = [&](int tile) {
        const u32 vTile = vRing + (tile % WS_STAGES) * KV_BYTES;
#pragma unroll
        for (int kk = 0; kk < WS_KEYS / 16; kk++) {
            wgmma_n128_rs(o, p[kk], desc_mn(vTile + kk * 16 * 128, WS_KEYS * 128));
        }
    };
    auto wait_v = [&](int tile) { mbar_wait(vFull(tile % WS_STAGES), (tile / WS_STAGES) & 1); };

    mbar_wait(qFull, 0);
    for (int n = 0; n < tiles; n++) {
        const int st = n % WS_STAGES;
        mbar_wait(kFull(st), (n / WS_STAGES) & 1);
        if (n > 0) wait_v(n - 1);
        const u32 kTile = kRing + st * KV_BYTES;
        const int key0 = n * WS_KEYS;

        float s[S_REGS];
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < HEAD_DIM / 16; kc++) {
            const u32 along = (kc & 3) * 32;
            wgmma_n128_ss(s, desc_k(qRows + (kc >> 2) * (Q_BYTES / 2) + along),
                          desc_k(kTile + (kc >> 2) * (KV_BYTES / 2) + along), kc);
        }
        wg_commit();
        if (n > 0) {
            multiply_pv(n - 1);
            wg_commit();
            wg_wait<1>();
        } else {
            wg_wait<0>();
        }
        hold(s);
        release(kEmpty(st));
        if (key0 + WS_KEYS - 1 > wgRow0) {
#pragma unroll
            for (int j = 0; j < WS_KEYS / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    if (key0 + 8 * j + 2 * t + (e & 1) > row0 + 8 * (e >> 1)) s[4 * j + e] = NEG_INF;
                }
            }
        }
        float scaleOld[2], negBase[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float tileMax = row_max<WS_KEYS / 8>(s, r);
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xFFFFFFFFu, tileMax, 1));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(0xFFFFFFFFu, tileMax, 2));
            const float newMax = fmaxf(rowMax[r], tileMax * scaleLog2);
            const float base = newMax == NEG_INF ? 0.0f : newMax;
            scaleOld[r] = exp2_ftz(rowMax[r] - base);
            rowMax[r] = newMax;
            rowSum[r] *= scaleOld[r];
            negBase[r] = -base;
        }
#pragma unroll
        for (int i = 0; i < S_REGS; i++) s[i] = exp2_ftz(fmaf(s[i], scaleLog2, negBase[(i >> 1) & 1]));
        rowSum[0] += row_sum<WS_KEYS / 8>(s, 0);
        rowSum[1] += row_sum<WS_KEYS / 8>(s, 1);
        wg_wait<0>();
        hold(o);
        hold(p);
        if (n > 0) release(vEmpty((n - 1) % WS_STAGES));
        if (scaleOld[0] != 1.0f || scaleOld[1] != 1.0f) {
#pragma unroll
            for (int i = 0; i < 64; i++) o[i] *= scaleOld[(i >> 1) & 1];
        }
        to_a_operands(s, p);
    }
    wait_v(tiles - 1);
    wg_fence();
    multiply_pv(tiles - 1);
    wg_commit();
    wg_wait<0>();
    hold(o);
    hold(p);

    const int ldo = heads * HEAD_DIM;
    u32 top = 0;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = rowSum[r];
        sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
        sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
        const int row = row0 + 8 * r;
        if (row < seq) {
            const float inv = 1.0f / sum;
            u16* dst = out + ((long long) b * seq + row) * ldo + h * HEAD_DIM + 2 * t;
#pragma unroll
            for (int j = 0; j < 16; j++) {
                const float x0 = o[4 * j + 2 * r] * inv, x1 = o[4 * j + 2 * r + 1] * inv;
                top = max(top, max(abs_bits(x0), abs_bits(x1)));
                *(u32*) (dst + j * 8) = pack_bf16(x0, x1);
            }
            if (t == 0) lse[((long long) b * heads + h) * seq + row] = (rowMax[r] + __log2f(sum)) * LN2;
        }
    }
    warp_amax(top, amax);
}


// --------------------------------------------------------------------------------------------- backward

// Stores x, the A operands of keys (this thread's rows) x 64 queries, as BF16 into the dS^T tile (BWD_KEYS rows of
// 64 queries: one panel). keyRow is the thread's first key row within the block.
__device__ __forceinline__ void store_ds(u32 tile, int keyRow, int t, const u32 (&x)[4][4]) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int row = keyRow + 8 * (i & 1), col = 16 * kk + 8 * (i >> 1);
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(tile + sw128<BWD_KEYS>(row, col) + 4 * t), "r"(x[kk][i]));
        }
    }
}

// A block owns 128 keys of one kv head, consumer warpgroup c keys 64c..64c+63, and walks every query tile (64
// queries) at or after them, for each query head of the group. Per tile, in the transposed form where the
// warpgroup's keys are the rows (M) of every product:
//   S^T = K Q^T and dP^T = V dOut^T (64 keys x 64 queries each, both operands K-major);
//   P^T = exp(S^T * scale - lse), dS^T = P^T * (dP^T - delta), kept in registers as A operands and dS^T also
//     stored to shared memory;
//   dV += P^T dOut and dK += dS^T Q (64 keys x 128, P^T and dS^T from registers, dOut and Q MN-major);
//   dQ = dS K over the block's 128 keys (64 queries x 64 columns per warpgroup, dS^T and K both MN-major), added
//     into dqAccum (F32, zeroed).
//
// Warpgroup 0 is a producer whose first warp moves the block's K and V tiles once, and every step's Q and dOut tiles
// by TMA and its lse and delta by loads and stores, into a ring of BWS_STAGES stages. Each stage has a "full" mbarrier
// (the TMA's expected bytes, completed by the copies, plus one arrival per lane of the warp after its stores) and an
// "empty" one (one arrival per consumer thread once its products have read the stage).
// The two consumer warpgroups exchange dS^T through one barrier per step, a named barrier (bar.sync 1 of their 256
// threads), where each waits for the other's. The dS^T tile is double-buffered: a
// warpgroup writing step i's while the other still multiplies step i - 1's dQ overwrites step i - 2's, which both are
// done with (each waited for its dQ of step i - 2 before reaching step i - 1's barrier).
//
// dQ goes through shared memory: each consumer warpgroup stores its 64 x 64 F32 tile (128-byte swizzle, two 32-column
// panels) and one of its threads adds it into dqAccum with TMA reductions (cp.reduce.async.bulk.tensor .add), which
// move whole lines where red.global.add.v2 from registers moves 8 bytes a thread. That thread waits
// for the reductions to have read the tile before its warpgroup's next barrier with the other, so that the tile is
// free when the next step stores into it.
//
// Grid batch * kvHeads * ceil(seq / BWD_KEYS) blocks in banded_block's order (units: the kv heads of every batch;
// items: key blocks), BWS_THREADS threads. Under the causal mask the block of keys 0..127 works through every query
// tile and the last block through one. Each unit's blocks in turn (band 1, the first form) ran each head group's short
// blocks before the next group's long ones, and the last group's longest blocks started late: a simulation of 132
// multiprocessors taking blocks in dispatch order puts that tail at 13% of the kernel at B4 S4096 8 kv heads, against
// 1% longest first across the whole grid, and 0% in bands of 4 units. Measured on an H200 through CudaAttention
// (alternated runs), longest first across the grid against band 1: 3.18-3.27 ms against 3.41-3.42 over 10 calls,
// 3.42-3.48 against 3.51-3.58 over 100-300. On an H100 the order ranked otherwise: there the blocks running at once
// read the Q and dOut tiles of every unit, more than the L2 holds, where a band of 4 units reads 4 units' (32 MB).
// Measured on one H100 through CudaAttention (B4 S4096 32/8 heads, 100 calls, two alternated rounds): band 4
// 3.295-3.303 ms, band 8 3.382-3.392, band 1 3.591-3.604, longest first across the grid 3.953-3.977; cuDNN 3.168.
// Dynamic shared memory: the K and V tiles (128 rows), BWS_STAGES stages of (Q tile, dOut tile) of 64 rows, two dS^T
// tiles (128 keys x 64 queries), two dQ tiles (64 x 64 F32, one per consumer warpgroup), BWS_STAGES stages of (lse[64],
// delta[64]), then the mbarriers (K and V full, then per stage full and empty), plus 1024 for the alignment. lse, delta
// (attention.cu's attention_backward_delta), dk and dv as attention.cu's backward takes them; q, k, v, dOut and dqAccum
// as tensor maps: q, dOut (heads = heads) and k, v (heads = kvHeads) encoded as attention_forward_sm90_ws_d128's;
// dqAccum as q's, but data type F32 (7), strides {heads * 512, seq * heads * 512} and box {32, 64, 1} (a box row of 32
// F32 values is the 128 bytes the swizzle spans).
//
// Measured on an H100 at B4 S4096 32/8 heads (the cp.async form 4.28-4.45 ms in the same runs): dQ by
// red.global.add.v2 from registers, two stages 3.82-3.92 ms, three 3.88-3.90; dQ by
// TMA reduction, two stages 3.10-3.17 ms, three 3.16-3.20; with the stage released once dV and dK are done rather than
// after dQ, two stages 3.08-3.15 ms, three 3.13-3.21 (cuDNN 3.23 ms). lse and delta by cp.async completed through
// cp.async.mbarrier.arrive.noinc or by loads and stores ran alike (3.10-3.15 ms). The stage released by one arrival
// per consumer warp (lane 0 after __syncwarp, as the forward does) ran no faster than one per thread (3.08-3.15 ms),
// and compute-sanitizer's racecheck reported the other lanes' reads of lse and delta racing with the producer's
// next stores.
#define BWS_STAGES 2
#define BWS_THREADS 384
#define BWS_DQ_BYTES (64 * 64 * 4)

__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

extern "C" __global__ void __launch_bounds__(BWS_THREADS, 1) attention_backward_sm90_ws_d128(
        const __grid_constant__ TensorMap qMap, const __grid_constant__ TensorMap kMap,
        const __grid_constant__ TensorMap vMap, const __grid_constant__ TensorMap dOutMap, const float* lse,
        const float* delta, const __grid_constant__ TensorMap dqMap, u16* dk, u16* dv, int seq, int heads,
        int kvHeads, float scale, int batch, int band) {
    extern __shared__ __align__(1024) unsigned char smem[];
    constexpr int KV_BYTES = BWD_KEYS * HEAD_DIM * 2, Q_BYTES = BWD_QUERIES * HEAD_DIM * 2;
    constexpr int DS_BYTES = BWD_KEYS * BWD_QUERIES * 2;
    const u32 kTile = smem_base1024(smem), vTile = kTile + KV_BYTES;
    const u32 stage0 = vTile + KV_BYTES;  // stage s: Q at stage0 + s * 2 * Q_BYTES, dOut after it
    const u32 dsTiles = stage0 + BWS_STAGES * 2 * Q_BYTES;
    const u32 dqTiles = dsTiles + 2 * DS_BYTES;
    const u32 statsAddr = dqTiles + 2 * BWS_DQ_BYTES;  // [stage][lse 64, delta 64]
    const float* rowStats = (const float*) (smem + (statsAddr - shared_address(smem)));
    const u32 kvFull = statsAddr + BWS_STAGES * 2 * BWD_QUERIES * 4;
    auto full = [&](int st) { return kvFull + 8 + 16 * st; };
    auto empty = [&](int st) { return kvFull + 16 + 16 * st; };

    const int lane = threadIdx.x & 31, wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3;
    int unit, item;
    banded_block(blockIdx.x, batch * kvHeads, (seq + BWD_KEYS - 1) / BWD_KEYS, band, unit, item);
    const int b = unit / kvHeads, kvh = unit % kvHeads, group = heads / kvHeads;
    const int key0 = item * BWD_KEYS;
    const int mFirst = key0 / BWD_QUERIES;
    const int mTiles = (seq + BWD_QUERIES - 1) / BWD_QUERIES - mFirst;
    const int steps = group * mTiles;

    if (threadIdx.x == 0) {
        mbar_init(kvFull, 1);
        for (int st = 0; st < BWS_STAGES; st++) {
            mbar_init(full(st), 1 + 32);
            mbar_init(empty(st), 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
        if (warp == 0) {
            if (lane == 0) {
                mbar_arrive_expect_tx(kvFull, 2 * KV_BYTES);
                tma_tile<BWD_KEYS>(kTile, kMap, kvh * HEAD_DIM, key0, b, kvFull);
                tma_tile<BWD_KEYS>(vTile, vMap, kvh * HEAD_DIM, key0, b, kvFull);
            }
#pragma unroll 1
            for (int i = 0; i < steps; i++) {
                const int st = i % BWS_STAGES;
                const int h = kvh * group + i / mTiles, m0 = (mFirst + i % mTiles) * BWD_QUERIES;
                mbar_wait(empty(st), ((i / BWS_STAGES) & 1) ^ 1);
                if (lane == 0) {
                    const u32 qStage = stage0 + st * 2 * Q_BYTES;
                    mbar_arrive_expect_tx(full(st), 2 * Q_BYTES);
                    tma_tile<BWD_QUERIES>(qStage, qMap, h * HEAD_DIM, m0, b, full(st));
                    tma_tile<BWD_QUERIES>(qStage + Q_BYTES, dOutMap, h * HEAD_DIM, m0, b, full(st));
                }
                // A head's lse and delta rows are 4-byte aligned only (seq need not be a multiple of 4), too fine
                // for TMA: each lane loads four of the 128 values, stores them and arrives, its arrival releasing
                // the stores to the consumers' wait. Queries past the sequence read as zeros, masked by the
                // consumers.
                float x4[4];
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    const int qi = m0 + (lane + 32 * x) % BWD_QUERIES;
                    const float* src = (x < 2 ? lse : delta) + ((long long) b * heads + h) * seq + qi;
                    x4[x] = qi < seq ? *src : 0.0f;
                }
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    const u32 dst = statsAddr + (st * 2 * BWD_QUERIES + lane + 32 * x) * 4;
                    asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(dst), "f"(x4[x]) : "memory");
                }
                mbar_arrive(full(st));
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");

    // Consumer warpgroup c owns keys 64c..64c+63 of the block.
    const int c = wg - 1, g = lane >> 2, t = lane & 3;
    const float scaleLog2 = scale * LOG2E;
    const int wgKey0 = key0 + 64 * c;
    const int keyLocal = 64 * c + 16 * warp + g;  // this thread's first key row within the block (+ 8 the second)
    const int ldk = kvHeads * HEAD_DIM;
    const u32 dqTile = dqTiles + c * BWS_DQ_BYTES;
    const bool dqIssuer = (threadIdx.x & 127) == 0;

    float dkAcc[64], dvAcc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) dkAcc[i] = dvAcc[i] = 0.0f;

    mbar_wait(kvFull, 0);
    for (int i = 0; i < steps; i++) {
        const int st = i % BWS_STAGES;
        mbar_wait(full(st), (i / BWS_STAGES) & 1);
        const int h = kvh * group + i / mTiles, m0 = (mFirst + i % mTiles) * BWD_QUERIES;
        const u32 qStage = stage0 + st * 2 * Q_BYTES, dOutStage = qStage + Q_BYTES;
        const u32 kT = opaque(kTile), vT = kT + KV_BYTES;
        const u32 dsTile = dsTiles + (i & 1) * DS_BYTES;
        const float* lseS = rowStats + st * 2 * BWD_QUERIES;
        const float* deltaS = lseS + BWD_QUERIES;
        const bool active = wgKey0 <= m0 + BWD_QUERIES - 1 && wgKey0 < seq;

        u32 pA[4][4], dsA[4][4];
        if (active) {
            float sT[32], dpT[32];
            wg_fence();
#pragma unroll
            for (int kc = 0; kc < HEAD_DIM / 16; kc++) {
                const u32 along = (kc & 3) * 32, keys = 64 * c * 128;
                wgmma_n64<0, 0>(sT, desc_k(kT + (kc >> 2) * (KV_BYTES / 2) + keys + along),
                                desc_k(qStage + (kc >> 2) * (Q_BYTES / 2) + along), kc);
            }
            wg_commit();
#pragma unroll
            for (int kc = 0; kc < HEAD_DIM / 16; kc++) {
                const u32 along = (kc & 3) * 32, keys = 64 * c * 128;
                wgmma_n64<0, 0>(dpT, desc_k(vT + (kc >> 2) * (KV_BYTES / 2) + keys + along),
                                desc_k(dOutStage + (kc >> 2) * (Q_BYTES / 2) + along), kc);
            }
            wg_commit();
            wg_wait<1>();
            hold(sT);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const float2 l = *(const float2*) (lseS + 8 * j + 2 * t);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    sT[4 * j + e] = exp2_ftz(fmaf(sT[4 * j + e], scaleLog2, -((e & 1) ? l.y : l.x) * LOG2E));
                }
            }
            if (wgKey0 + 63 > m0 || m0 + BWD_QUERIES > seq) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int query = m0 + 8 * j + 2 * t + (e & 1), key = key0 + keyLocal + 8 * (e >> 1);
                        if (key > query || query >= seq) sT[4 * j + e] = 0.0f;
                    }
                }
            }
            wg_wait<0>();
            hold(dpT);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const float2 d = *(const float2*) (deltaS + 8 * j + 2 * t);
#pragma unroll
                for (int e = 0; e < 4; e++) dpT[4 * j + e] = sT[4 * j + e] * (dpT[4 * j + e] - ((e & 1) ? d.y : d.x));
            }
            to_a_operands(sT, pA);
            to_a_operands(dpT, dsA);
            store_ds(dsTile, keyLocal, t, dsA);
            // dV and dK run while this warpgroup waits below for the other's dS^T.
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < BWD_QUERIES / 16; kk++) {
                wgmma_n128_rs(dvAcc, pA[kk], desc_mn(dOutStage + kk * 16 * 128, Q_BYTES / 2));
            }
#pragma unroll
            for (int kk = 0; kk < BWD_QUERIES / 16; kk++) {
                wgmma_n128_rs(dkAcc, dsA[kk], desc_mn(qStage + kk * 16 * 128, Q_BYTES / 2));
            }
            wg_commit();
        } else {
            const u32 zero[4][4] = {};
            store_ds(dsTile, keyLocal, t, zero);
        }
        fence_async_proxy();
        // The previous step's reductions have read this warpgroup's dQ tile before the barrier lets it on.
        if (dqIssuer) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
        named_barrier_sync(1, 256);
        // dQ (64 queries x this warpgroup's 64 columns) over the block's 128 keys.
        float dq[32];
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < BWD_KEYS / 16; kk++) {
            wgmma_n64<1, 1>(dq, desc_mn(dsTile + kk * 16 * 128, DS_BYTES),
                            desc_mn(kT + c * (KV_BYTES / 2) + kk * 16 * 128, KV_BYTES / 2), kk);
        }
        wg_commit();
        // dV and dK are done (the older group): the stage is read, released while dQ runs. Every thread arrives
        // for its own reads of lse and delta.
        wg_wait<1>();
        hold(dvAcc);
        hold(dkAcc);
        hold(pA);
        hold(dsA);
        mbar_arrive(empty(st));
        wg_wait<0>();
        hold(dq);
        // Row r of the dQ tile, columns 8j + 2t and + 1: panel j / 4, 16-byte chunk 2 (j % 4) + t / 2 of the row,
        // swizzled by r & 7 (= g).
#pragma unroll
        for (int j = 0; j < 8; j++) {
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int row = 16 * warp + g + 8 * r;
                const u32 addr = dqTile + (j >> 2) * (BWS_DQ_BYTES / 2) + row * 128
                                 + (((2 * (j & 3) + (t >> 1)) ^ g) << 4) + 8 * (t & 1);
                asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(addr), "f"(dq[4 * j + 2 * r]),
                             "f"(dq[4 * j + 2 * r + 1])
                             : "memory");
            }
        }
        fence_async_proxy();
        named_barrier_sync(2 + c, 128);
        // Rows past the sequence lie outside the tensor map: the reduction leaves them alone.
        if (dqIssuer) {
#pragma unroll
            for (int panel = 0; panel < 2; panel++) {
                asm volatile("cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.bulk_group [%0, {%1, %2, %3}], "
                             "[%4];\n" ::"l"(&dqMap), "r"(h * HEAD_DIM + 64 * c + 32 * panel), "r"(m0), "r"(b),
                             "r"(dqTile + panel * (BWS_DQ_BYTES / 2))
                             : "memory");
            }
            asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
        }
    }
    // The shared memory stays until the last reductions have read it.
    if (dqIssuer) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");

#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int key = key0 + keyLocal + 8 * r;
        if (key < seq) {
            const long long off = ((long long) b * seq + key) * ldk + kvh * HEAD_DIM + 2 * t;
#pragma unroll
            for (int j = 0; j < 16; j++) {
                *(u32*) (dk + off + j * 8) = pack_bf16(dkAcc[4 * j + 2 * r] * scale, dkAcc[4 * j + 2 * r + 1] * scale);
                *(u32*) (dv + off + j * 8) = pack_bf16(dvAcc[4 * j + 2 * r], dvAcc[4 * j + 2 * r + 1]);
            }
        }
    }
}
