// float8j's quantization kernels (casts to FP8, dequantization, conversion, transposes), compiled at run time by NVRTC.
//
// Every kernel works on 128x128 tiles of a logical rows x cols matrix with 512 threads: warp w holds rows
// 8w..8w+7 of the tile, lane l holds columns 4l..4l+3, so a thread keeps 32 values in registers (few enough
// registers for two blocks, 32 warps, per multiprocessor: the loads of one block overlap the other's work).
// A quantized copy "along 1" (scales run along the columns, the gemm sums over cols) is written row-major
// [rows][ld]; a copy "along 0" is written transposed, [cols][ld], so that both are K-contiguous as
// cuBLASLt's FP8 gemm needs. Padding (ld beyond the data) is never written and stays zero.
//
// Scale layouts follow cuBLASLt (F = free dimension, K = summed dimension of the copy):
//   TENSOR: [1];  ROWWISE: [F];  TILE (1x128 or 1x32 along K): [K/tile][ldScale] (F fastest);
//   BLOCK (128x128): [F/128][ldScale = ceil(K/128) rounded up to 4].
// Scales are quantization multipliers (q = x * scale); inv holds 1/scale, what cuBLASLt multiplies by.

#define MODE_TENSOR 0
#define MODE_ROWWISE 1
#define MODE_TILE 2
#define MODE_BLOCK 3

#define IN_F32 0
#define IN_BF16 1
#define IN_FP8 2

#define FMT_E4M3 0
#define FMT_E5M2 1

#include "common.cuh"
// Own vector types, so that the source needs no CUDA header.
struct alignas(16) V4u { u32 x, y, z, w; };
struct alignas(16) V4f { float x, y, z, w; };
struct alignas(8) V2u { u32 x, y; };

struct Source {
    const void* data;
    int type;      // IN_F32, IN_BF16 or IN_FP8
    int ld;        // row stride in elements (for FP8: of the stored copy)
    // FP8 sources only: how to dequantize (decode(code) / scale)
    int axis;      // 1: codes stored [rows][ld]; 0: stored [cols][ld]
    int fmt;
    int mode;
    const float* scale;
    int ldScale;
    int tile;
};

__device__ __forceinline__ float decode_fp8(u32 code, int fmt) {
    u32 sign = code & 0x80u;
    u32 mag = code & 0x7Fu;
    float v;
    if (fmt == FMT_E4M3) {
        if (mag == 0x7Fu) return __int_as_float(0x7FC00000);
        u32 e = mag >> 3, m = mag & 7u;
        v = e == 0 ? (float) m * 0.001953125f : __int_as_float(((e + 120u) << 23) | (m << 20));
    } else {
        u32 e = mag >> 2, m = mag & 3u;
        if (e == 31u) return m == 0 ? (sign ? -__int_as_float(0x7F800000) : __int_as_float(0x7F800000))
                                    : __int_as_float(0x7FC00000);
        v = e == 0 ? (float) m * 0.0000152587890625f : __int_as_float(((e + 112u) << 23) | (m << 21));
    }
    return sign ? -v : v;
}

__device__ __forceinline__ u32 fp8_pair(float lo, float hi, int fmt) {
    u16 out;
    if (fmt == FMT_E4M3) {
        asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(out) : "f"(hi), "f"(lo));
    } else {
        asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(out) : "f"(hi), "f"(lo));
    }
    return out;
}

struct Copy {
    u8* codes;      // null: this copy is not wanted
    int ld;
    float* scale;
    float* inv;
    int ldScale;
    int fmt;
    int pow2;
    u32 castId;     // the host's number for this cast, reported through fault
    u32* fault;     // lowest castId whose input held NaN or Inf (atomicMin; 0xFFFFFFFF: none)
};

// scale = fmax / max(amax, 1e-12) rounded to nearest (as Java's float division), optionally 2^floor(log2) but
// at least 2^-119 (E4M3) or 2^-112 (E5M2), the smallest powers of two for which fmax / scale is finite (Scales.java).
// A NaN or infinite amax (its bits at or above 0x7F800000) would poison the block silently: it is reported
// through o.fault, which the host checks at its next synchronization, and the scale is made 1.
__device__ __forceinline__ float scale_from_amax(float amax, const Copy& o) {
    if (__float_as_uint(amax) >= 0x7F800000u) {
        atomicMin(o.fault, o.castId);
        return 1.0f;
    }
    float fmax = o.fmt == FMT_E4M3 ? 448.0f : 57344.0f;
    float s = __fdiv_rn(fmax, fmaxf(amax, 1e-12f));
    if (o.pow2) {
        int e = (int) ((__float_as_uint(s) >> 23) & 0xFF) - 127;
        e = max(o.fmt == FMT_E4M3 ? -119 : -112, min(127, e));
        s = __uint_as_float((u32) (e + 127) << 23);
    }
    return s;
}

__device__ __forceinline__ float source_scale(const Source& s, int r, int c) {
    int f = s.axis == 1 ? r : c;   // free index of the stored copy
    int k = s.axis == 1 ? c : r;   // summed index
    switch (s.mode) {
        case MODE_TENSOR: return s.scale[0];
        case MODE_ROWWISE: return s.scale[f];
        case MODE_TILE: return s.scale[(k / s.tile) * s.ldScale + f];
        default: return s.scale[(f / 128) * s.ldScale + k / 128];
    }
}

template <int IN>
__device__ __forceinline__ float load1(const Source& s, int r, int c) {
    switch (IN) {
        case IN_F32: return ((const float*) s.data)[(long) r * s.ld + c];
        case IN_BF16: return __uint_as_float((u32) ((const u16*) s.data)[(long) r * s.ld + c] << 16);
        default: {
            long at = s.axis == 1 ? (long) r * s.ld + c : (long) c * s.ld + r;
            return __fdiv_rn(decode_fp8(((const u8*) s.data)[at], s.fmt), source_scale(s, r, c));
        }
    }
}

#define WARPS 16
#define ROWS_PER_WARP 8
#define THREADS (WARPS * 32)

// Loads the tile at (r0, c0) into v; values outside the matrix read as 0.
// IN is the source type as a compile-time constant, so that each kernel instance holds one load path.
template <int IN>
__device__ __forceinline__ void load_tile(const Source& s, int rows, int cols, int r0, int c0,
                                          float v[ROWS_PER_WARP][4]) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int c = c0 + lane * 4;
    bool vec = (IN != IN_FP8 || s.axis == 1) && c + 3 < cols && (s.ld & 3) == 0;
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        int r = r0 + warp * ROWS_PER_WARP + i;
        if (r < rows && vec) {
            if (IN == IN_FP8) {
                u32 q = *(const u32*) ((const u8*) s.data + (long) r * s.ld + c);
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    v[i][j] = __fdiv_rn(decode_fp8((q >> (8 * j)) & 0xFFu, s.fmt), source_scale(s, r, c + j));
                }
            } else if (IN == IN_F32) {
                V4f q = *(const V4f*) ((const float*) s.data + (long) r * s.ld + c);
                v[i][0] = q.x; v[i][1] = q.y; v[i][2] = q.z; v[i][3] = q.w;
            } else {
                V2u q = *(const V2u*) ((const u16*) s.data + (long) r * s.ld + c);
                v[i][0] = __uint_as_float(q.x << 16); v[i][1] = __uint_as_float(q.x & 0xFFFF0000u);
                v[i][2] = __uint_as_float(q.y << 16); v[i][3] = __uint_as_float(q.y & 0xFFFF0000u);
            }
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                v[i][j] = (r < rows && c + j < cols) ? load1<IN>(s, r, c + j) : 0.0f;
            }
        }
    }
}

// Max over groups of `lanes` consecutive lanes (lanes a power of two <= 32).
__device__ __forceinline__ u32 group_max(u32 x, int lanes) {
    for (int o = lanes >> 1; o > 0; o >>= 1) x = max(x, __shfl_xor_sync(0xFFFFFFFFu, x, o));
    return x;
}

#define STAGE_BYTES (128 * 256)

// Starts copying BF16 tile t (128 rows of 256 bytes) into a shared-memory stage with cp.async; rows past the
// matrix are zero-filled. Needs cols % 8 == 0 so that a 16-byte chunk is wholly inside or outside.
__device__ __forceinline__ void prefetch_bf16_tile(const Source& s, int rows, int cols, int tilesX, int t, u8* stage) {
    int r0 = (t / tilesX) * 128, c0 = (t % tilesX) * 128;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        int chunk = threadIdx.x + k * THREADS;
        int row = chunk >> 4, part = chunk & 15;
        int r = r0 + row, c = c0 + part * 8;
        bool inside = r < rows && c < cols;
        const u16* from = (const u16*) s.data + (inside ? (long) r * s.ld + c : 0);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(stage + row * 256 + part * 16)),
                     "l"(from), "r"(inside ? 16 : 0));
    }
    asm volatile("cp.async.commit_group;");
}

// Folds the absolute maxima of tile (tileY, tileX), whose values v holds, into the amax arrays.
__device__ __forceinline__ void amax_tile(int rows, int cols, u32* rowAmax, u32* colAmax, u32* totalAmax,
                                          int tileY, int tileX, float v[ROWS_PER_WARP][4]) {
    __shared__ u32 colPart[WARPS][128];
    int r0 = tileY * 128, c0 = tileX * 128;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    u32 total = 0, col[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        u32 m = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            u32 a = abs_bits(v[i][j]);
            m = max(m, a);
            col[j] = max(col[j], a);
        }
        total = max(total, m);
        if (rowAmax) {
            m = group_max(m, 32);
            int r = r0 + warp * ROWS_PER_WARP + i;
            if (lane == 0 && r < rows) atomicMax(rowAmax + r, m);
        }
    }
    if (colAmax) {
#pragma unroll
        for (int j = 0; j < 4; j++) colPart[warp][lane * 4 + j] = col[j];
        __syncthreads();
        if (threadIdx.x < 128) {
            u32 m = 0;
            for (int w = 0; w < WARPS; w++) m = max(m, colPart[w][threadIdx.x]);
            int c = c0 + threadIdx.x;
            if (c < cols) atomicMax(colAmax + c, m);
        }
    }
    if (totalAmax) {
        // one atomic per block: many blocks hitting one address would serialize in L2
        __shared__ u32 warpTotal[WARPS];
        total = group_max(total, 32);
        if (lane == 0) warpTotal[warp] = total;
        __syncthreads();
        if (threadIdx.x == 0) {
            u32 t = 0;
            for (int w = 0; w < WARPS; w++) t = max(t, warpTotal[w]);
            atomicMax(totalAmax, t);
        }
    }
}

// After cast_tile's reduce-scatter of 8 row maxima over a group of `lanes` lanes (8 or 32), the row whose
// maximum a lane holds: the halving steps used lane bits lanes/2, lanes/4, lanes/8 for row bits 4, 2, 1.
__device__ __forceinline__ int row_of_lane(int lane, int lanes) {
    int b = lanes >> 3;  // the lowest of the three bits
    return ((lane & (4 * b)) ? 4 : 0) + ((lane & (2 * b)) ? 2 : 0) + ((lane & b) ? 1 : 0);
}

// The lane of `lane`'s group that holds row i's maximum, lowest of those that do.
__device__ __forceinline__ int row_owner(int i, int lane, int lanes) {
    int b = lanes >> 3;
    return (lane & ~(lanes - 1)) + ((i >> 2) & 1) * 4 * b + ((i >> 1) & 1) * 2 * b + (i & 1) * b;
}


__device__ __forceinline__ void put_scale(const Copy& o, long at, float s) {
    o.scale[at] = s;
    o.inv[at] = __fdiv_rn(1.0f, s);
}

// Quantizes one tile into the along-1 copy (rowCopy) and/or the along-0 copy (colCopy).
// ROWWISE mode takes its row and column maxima from amax_tiles or x's producer, TENSOR mode its scales for the two
// copies (rowTensorScale, colTensorScale) from the kernel, which makes them once; TILE and BLOCK modes find their
// amax in the tile. Quantizes tile (tileY, tileX), whose values v already holds.
__device__ __forceinline__ void cast_tile(int rows, int cols, int mode, int tile, const Copy& rowCopy,
                                          const Copy& colCopy, const u32* rowAmax, const u32* colAmax,
                                          float rowTensorScale, float colTensorScale, int tileY, int tileX,
                                          float v[ROWS_PER_WARP][4]) {
    __shared__ u32 colPart[WARPS][128];
    __shared__ u32 transposed[128][32];
    __shared__ float blockScale[2];
    __shared__ float colScale[4][128];  // along-0 scales of rowwise and tile modes, per group of rows and column
    int r0 = tileY * 128, c0 = tileX * 128;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    if (mode == MODE_BLOCK) {
        u32 m = 0;
#pragma unroll
        for (int i = 0; i < ROWS_PER_WARP; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) m = max(m, abs_bits(v[i][j]));
        m = group_max(m, 32);
        if (lane == 0) colPart[0][warp] = m;
        __syncthreads();
        if (threadIdx.x == 0) {
            u32 t = 0;
            for (int w = 0; w < WARPS; w++) t = max(t, colPart[0][w]);
            float amax = __uint_as_float(t);
            int rb = tileY, cb = tileX;
            if (rowCopy.codes) {
                blockScale[0] = scale_from_amax(amax, rowCopy);
                put_scale(rowCopy, (long) rb * rowCopy.ldScale + cb, blockScale[0]);
            }
            if (colCopy.codes) {
                blockScale[1] = scale_from_amax(amax, colCopy);
                put_scale(colCopy, (long) cb * colCopy.ldScale + rb, blockScale[1]);
            }
        }
        __syncthreads();
    }

    if (rowCopy.codes) {
        int c = c0 + lane * 4;
        // Scales that vary by row are computed once each, spread over the lanes (a division is costly), then
        // passed to the lanes that need them by shuffles. ROWWISE: lane l < 8 owns row l of the warp.
        // TILE (tile 32 or 128, a group of tile / 4 lanes per tile of a row): a reduce-scatter over the group
        // leaves each lane with the maximum of one row (3 halving steps for 8 rows, then plain reduction
        // across the remaining lanes), found by row_owner below.
        int lanesPerGroup = tile / 4;
        float laneScale = 0.0f;
        if (mode == MODE_ROWWISE) {
            int r = r0 + warp * ROWS_PER_WARP + (lane & (ROWS_PER_WARP - 1));
            laneScale = scale_from_amax(__uint_as_float(r < rows ? rowAmax[r] : 0u), rowCopy);
            if (tileX == 0 && lane < ROWS_PER_WARP && r < rows) put_scale(rowCopy, r, laneScale);
        } else if (mode == MODE_TILE) {
            u32 m[8];
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                m[i] = max(max(abs_bits(v[i][0]), abs_bits(v[i][1])), max(abs_bits(v[i][2]), abs_bits(v[i][3])));
            }
            int o = lanesPerGroup >> 1;
#pragma unroll
            for (int half = 4; half >= 1; half >>= 1, o >>= 1) {
                bool upper = lane & o;  // this lane keeps the upper half of its rows, its partner the lower
#pragma unroll
                for (int k = 0; k < half; k++) {
                    u32 send = upper ? m[k] : m[k + half];
                    u32 keep = upper ? m[k + half] : m[k];
                    m[k] = max(keep, __shfl_xor_sync(0xFFFFFFFFu, send, o));
                }
            }
            u32 mine = group_max(m[0], o * 2);  // the lanes left below the halving steps' bits (tile 128: 4)
            laneScale = scale_from_amax(__uint_as_float(mine), rowCopy);
            int i = row_of_lane(lane, lanesPerGroup);
            int r = r0 + warp * ROWS_PER_WARP + i;
            int cg = c0 + (lane / lanesPerGroup) * tile;
            if (lane == row_owner(i, lane, lanesPerGroup) && r < rows && cg < cols) {
                put_scale(rowCopy, (long) (cg / tile) * rowCopy.ldScale + r, laneScale);
            }
        }
#pragma unroll
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            int r = r0 + warp * ROWS_PER_WARP + i;
            float s;
            if (mode == MODE_TENSOR) {
                s = rowTensorScale;
            } else if (mode == MODE_ROWWISE) {
                s = __shfl_sync(0xFFFFFFFFu, laneScale, i);
            } else if (mode == MODE_TILE) {
                s = __shfl_sync(0xFFFFFFFFu, laneScale, row_owner(i, lane, lanesPerGroup));
            } else {
                s = blockScale[0];
            }
            if (r < rows && c < rowCopy.ld) {
                *(u32*) (rowCopy.codes + (long) r * rowCopy.ld + c) =
                        fp8_pair(__fmul_rn(v[i][0], s), __fmul_rn(v[i][1], s), rowCopy.fmt)
                        | (fp8_pair(__fmul_rn(v[i][2], s), __fmul_rn(v[i][3], s), rowCopy.fmt) << 16);
            }
        }
        if (mode == MODE_TENSOR && tileX == 0 && tileY == 0 && threadIdx.x == 0) {
            put_scale(rowCopy, 0, rowTensorScale);
        }
    }

    if (colCopy.codes) {
        float s[4];
        if (mode == MODE_TILE) {
            // column amax over groups of `tile` rows: warps hold ROWS_PER_WARP rows each
            u32 col[4] = {0, 0, 0, 0};
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) col[j] = max(col[j], abs_bits(v[i][j]));
            __syncthreads();
#pragma unroll
            for (int j = 0; j < 4; j++) colPart[warp][lane * 4 + j] = col[j];
            __syncthreads();
            // One thread per (group of `tile` rows, column) finds the maximum and the scale, once (tile 32 or
            // 128: 128 x 128 / tile <= 512 threads); the others read it from shared memory.
            int warpsPerGroup = tile / ROWS_PER_WARP;
            if (threadIdx.x < 128 * (128 / tile)) {
                int g = threadIdx.x >> 7, cl = threadIdx.x & 127;
                u32 m = 0;
                for (int w = g * warpsPerGroup; w < (g + 1) * warpsPerGroup; w++) m = max(m, colPart[w][cl]);
                float sc = scale_from_amax(__uint_as_float(m), colCopy);
                colScale[g][cl] = sc;
                int c = c0 + cl, rGroup = r0 + g * tile;
                if (c < cols && rGroup < rows) put_scale(colCopy, (long) (rGroup / tile) * colCopy.ldScale + c, sc);
            }
            __syncthreads();
#pragma unroll
            for (int j = 0; j < 4; j++) s[j] = colScale[warp / warpsPerGroup][lane * 4 + j];
        } else if (mode == MODE_ROWWISE) {
            // one thread per column computes its scale; the others read it from shared memory
            if (threadIdx.x < 128) {
                int c = c0 + threadIdx.x;
                float sc = scale_from_amax(__uint_as_float(c < cols ? colAmax[c] : 0u), colCopy);
                colScale[0][threadIdx.x] = sc;
                if (tileY == 0 && c < cols) put_scale(colCopy, c, sc);
            }
            __syncthreads();
#pragma unroll
            for (int j = 0; j < 4; j++) s[j] = colScale[0][lane * 4 + j];
        } else {
            float one = mode == MODE_TENSOR ? colTensorScale : blockScale[1];
#pragma unroll
            for (int j = 0; j < 4; j++) s[j] = one;
            if (mode == MODE_TENSOR && tileX == 0 && tileY == 0 && threadIdx.x == 0) {
                put_scale(colCopy, 0, s[0]);
            }
        }
        // Transpose through shared memory so that each warp stores 128 contiguous bytes of a transposed row.
        // Word w of transposed row cl sits at column w ^ (cl / 4): the 32 lanes of a warp, which hold rows
        // cl = 4 * lane + j, then write 32 different banks.
        int w0 = warp * 2;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int cl = lane * 4 + j;
#pragma unroll
            for (int q = 0; q < 2; q++) {
                int i = q * 4;
                u32 word = fp8_pair(__fmul_rn(v[i][j], s[j]), __fmul_rn(v[i + 1][j], s[j]), colCopy.fmt)
                         | (fp8_pair(__fmul_rn(v[i + 2][j], s[j]), __fmul_rn(v[i + 3][j], s[j]), colCopy.fmt) << 16);
                transposed[cl][(w0 + q) ^ (cl >> 2)] = word;
            }
        }
        __syncthreads();
        for (int idx = threadIdx.x; idx < 128 * 32; idx += THREADS) {
            int cl = idx >> 5, w = idx & 31;
            int c = c0 + cl;
            int r = r0 + w * 4;
            if (c < cols && r < colCopy.ld) {
                *(u32*) (colCopy.codes + (long) c * colCopy.ld + r) = transposed[cl][w ^ (cl >> 2)];
            }
        }
    }
}

// Runs work(tileY, tileX, v) over every tile: one block per tile, or (pipelined: BF16 sources with
// cols % 8 == 0) a persistent block that loads its next tile into shared memory with cp.async while it
// works on the current one.
template <int IN, class Work>
__device__ __forceinline__ void for_each_tile(const Source& src, int rows, int cols, int pipelined, Work work) {
    float v[ROWS_PER_WARP][4];
    if (IN == IN_BF16 && pipelined) {
        extern __shared__ V4u stageWords[];
        u8* stages = (u8*) stageWords;
        int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
        int tilesX = (cols + 127) / 128;
        int tiles = tilesX * ((rows + 127) / 128);
        if (blockIdx.x < tiles) prefetch_bf16_tile(src, rows, cols, tilesX, blockIdx.x, stages);
        int it = 0;
        for (int t = blockIdx.x; t < tiles; t += gridDim.x, it++) {
            int next = t + gridDim.x;
            if (next < tiles) {
                prefetch_bf16_tile(src, rows, cols, tilesX, next, stages + ((it + 1) & 1) * STAGE_BYTES);
                asm volatile("cp.async.wait_group 1;");
            } else {
                asm volatile("cp.async.wait_group 0;");
            }
            __syncthreads();
            const u8* stage = stages + (it & 1) * STAGE_BYTES;
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                V2u q = *(const V2u*) (stage + (warp * ROWS_PER_WARP + i) * 256 + lane * 8);
                v[i][0] = __uint_as_float(q.x << 16); v[i][1] = __uint_as_float(q.x & 0xFFFF0000u);
                v[i][2] = __uint_as_float(q.y << 16); v[i][3] = __uint_as_float(q.y & 0xFFFF0000u);
            }
            work(t / tilesX, t % tilesX, v);
            __syncthreads();  // the stage just read is the next prefetch's target
        }
    } else {
        load_tile<IN>(src, rows, cols, blockIdx.y * 128, blockIdx.x * 128, v);
        work(blockIdx.y, blockIdx.x, v);
    }
}

// The largest |value| (float bits) a thread holds of its tile; values outside the matrix were loaded as 0.
__device__ __forceinline__ u32 tile_amax(const float (&v)[ROWS_PER_WARP][4]) {
    u32 m = 0;
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) m = max(m, abs_bits(v[i][j]));
    return m;
}

// A cast with a known scale (delayed scaling) reports the absolute maximum of what it read into *amaxOut (null: not
// asked), m being each thread's part: the amax the scale history records. Its scale came from earlier casts, so a NaN
// or Inf here would otherwise go unreported until the history is read: the thread that saw it reports it at once.
__device__ __forceinline__ void report_amax(u32 m, u32* amaxOut, const Copy& o, u32* scratch) {
    if (amaxOut == nullptr) return;  // the same for the whole block
    if (m >= 0x7F800000u) atomicMin(o.fault, o.castId);
    block_amax(m, DT_F32, amaxOut, scratch);  // the values are read as stored: nothing to round
}

// One kernel per source type: amax_tiles_f32, cast_tiles_bf16, ...
#define INSTANTIATE(NAME, IN, MIN_BLOCKS)                                                                                \
    extern "C" __global__ void __launch_bounds__(THREADS, MIN_BLOCKS) amax_tiles_##NAME(                             \
            Source src, int rows, int cols, u32* rowAmax, u32* colAmax, u32* totalAmax, int pipelined) {        \
        for_each_tile<IN>(src, rows, cols, pipelined, [&](int ty, int tx, float (&v)[ROWS_PER_WARP][4]) {         \
            amax_tile(rows, cols, rowAmax, colAmax, totalAmax, ty, tx, v);                                      \
        });                                                                                                     \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(THREADS, MIN_BLOCKS) cast_tiles_##NAME(                             \
            Source src, int rows, int cols, int mode, int tile, Copy rowCopy, Copy colCopy, const u32* rowAmax, \
            const u32* colAmax, const u32* totalAmax, int pipelined, u32* amaxOut) {                            \
        /* a tensorwise cast's scales once per thread, not once per tile: each is a division */                  \
        float rowTensorScale = 0.0f, colTensorScale = 0.0f;                                                     \
        if (mode == MODE_TENSOR) {                                                                              \
            if (rowCopy.codes) rowTensorScale = scale_from_amax(__uint_as_float(*totalAmax), rowCopy);          \
            if (colCopy.codes) colTensorScale = scale_from_amax(__uint_as_float(*totalAmax), colCopy);          \
        }                                                                                                       \
        u32 seen = 0;                                                                                           \
        for_each_tile<IN>(src, rows, cols, pipelined, [&](int ty, int tx, float (&v)[ROWS_PER_WARP][4]) {         \
            if (amaxOut != nullptr) seen = max(seen, tile_amax(v));                                             \
            cast_tile(rows, cols, mode, tile, rowCopy, colCopy, rowAmax, colAmax, rowTensorScale, colTensorScale, \
                      ty, tx, v);                                                                               \
        });                                                                                                     \
        __shared__ u32 warpMax[32];                                                                             \
        report_amax(seen, amaxOut, rowCopy, warpMax);                                                           \
    }
INSTANTIATE(f32, IN_F32, 2)
INSTANTIATE(bf16, IN_BF16, 2)
INSTANTIATE(fp8, IN_FP8, 1)  // decoding needs more registers; two blocks would spill

// Tensorwise scaling over a contiguous F32 or BF16 tensor of n values, flat: no tiles, just 16-byte loads with
// four in flight per thread, the shape that reaches copy bandwidth. chunk(i) is the i-th 16-byte chunk.
#define FLAT_UNROLL 4

template <int IN>
__device__ __forceinline__ u32 chunk_amax(V4u q) {
    if (IN == IN_F32) {
        return max(max(q.x & 0x7FFFFFFFu, q.y & 0x7FFFFFFFu), max(q.z & 0x7FFFFFFFu, q.w & 0x7FFFFFFFu));
    }
    // BF16: each word holds two values; compare their 15-bit magnitudes, then widen to float bits
    u32 m = max(max(q.x & 0x7FFFu, q.x >> 16 & 0x7FFFu), max(q.y & 0x7FFFu, q.y >> 16 & 0x7FFFu));
    m = max(m, max(max(q.z & 0x7FFFu, q.z >> 16 & 0x7FFFu), max(q.w & 0x7FFFu, q.w >> 16 & 0x7FFFu)));
    return m << 16;
}

template <int IN>
__device__ __forceinline__ float element(const void* data, long i) {
    return IN == IN_F32 ? ((const float*) data)[i] : __uint_as_float((u32) ((const u16*) data)[i] << 16);
}

// The whole-tensor absolute maximum (float bits) into *totalAmax, one atomicMax per block.
template <int IN>
__device__ __forceinline__ void amax_flat(const void* data, long n, u32* totalAmax) {
    const long perChunk = IN == IN_F32 ? 4 : 8;
    const V4u* chunks = (const V4u*) data;
    long count = n / perChunk;
    long stride = (long) gridDim.x * blockDim.x;
    long i = blockIdx.x * (long) blockDim.x + threadIdx.x;
    u32 m = 0;
    for (; i + (FLAT_UNROLL - 1) * stride < count; i += FLAT_UNROLL * stride) {
        V4u q[FLAT_UNROLL];
#pragma unroll
        for (int u = 0; u < FLAT_UNROLL; u++) q[u] = chunks[i + u * stride];
#pragma unroll
        for (int u = 0; u < FLAT_UNROLL; u++) m = max(m, chunk_amax<IN>(q[u]));
    }
    for (; i < count; i += stride) m = max(m, chunk_amax<IN>(chunks[i]));
    long tail = count * perChunk + blockIdx.x * (long) blockDim.x + threadIdx.x;
    if (tail < n) m = max(m, abs_bits(element<IN>(data, tail)));  // fewer than perChunk values are left
    __shared__ u32 warpMax[32];
    block_amax(m, DT_F32, totalAmax, warpMax);  // the values are read as stored: nothing to round
}

// Stores the codes of chunk i of a contiguous run (16 bytes of source: 4 F32 or 8 BF16 values, each times s) at
// codes + i * 4 or i * 8.
template <int IN>
__device__ __forceinline__ void store_chunk_codes(u8* codes, long i, V4u q, float s, int fmt) {
    if (IN == IN_F32) {
        ((u32*) codes)[i] = fp8_pair(__fmul_rn(__uint_as_float(q.x), s), __fmul_rn(__uint_as_float(q.y), s), fmt)
                | (fp8_pair(__fmul_rn(__uint_as_float(q.z), s), __fmul_rn(__uint_as_float(q.w), s), fmt) << 16);
    } else {
        u32 w[4] = {q.x, q.y, q.z, q.w};
        u32 out[2];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            u32 a = w[2 * h], b = w[2 * h + 1];
            out[h] = fp8_pair(__fmul_rn(__uint_as_float(a << 16), s), __fmul_rn(__uint_as_float(a & 0xFFFF0000u), s), fmt)
                   | (fp8_pair(__fmul_rn(__uint_as_float(b << 16), s), __fmul_rn(__uint_as_float(b & 0xFFFF0000u), s), fmt) << 16);
        }
        ((V2u*) codes)[i] = V2u{out[0], out[1]};
    }
}

// Codes of a contiguous tensor under one tensor scale, written contiguously (the along-1 copy when it has no
// padding, so n is a multiple of 256): 16 bytes in, 8 (BF16) or 4 (F32) bytes out per chunk.
template <int IN>
__device__ __forceinline__ void cast_flat(const void* data, long n, Copy o, const u32* totalAmax, u32* amaxOut) {
    float s = scale_from_amax(__uint_as_float(*totalAmax), o);
    if (blockIdx.x == 0 && threadIdx.x == 0) put_scale(o, 0, s);
    const long perChunk = IN == IN_F32 ? 4 : 8;
    const V4u* chunks = (const V4u*) data;
    long count = n / perChunk;
    long stride = (long) gridDim.x * blockDim.x;
    u32 m = 0;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < count; i += stride) {
        V4u q = chunks[i];
        if (amaxOut != nullptr) m = max(m, chunk_amax<IN>(q));
        store_chunk_codes<IN>(o.codes, i, q, s, o.fmt);
    }
    __shared__ u32 warpMax[32];
    report_amax(m, amaxOut, o, warpMax);
}

// Rowwise scaling along 1 of a contiguous matrix whose rows the block holds in registers, ROW_CHUNKS 16-byte
// chunks per thread at most: one block per row reads it once, takes its maximum, and writes its codes and scale,
// where amax_tiles and cast_tiles read it twice. cols is a multiple of the chunk's values (4 F32, 8 BF16).
#define ROW_CHUNKS 4

template <int IN>
__device__ __forceinline__ void cast_rows(const void* data, int cols, Copy o) {
    __shared__ u32 warpMax[32];
    const int chunks = cols / (IN == IN_F32 ? 4 : 8);
    long r = blockIdx.x;
    const V4u* row = (const V4u*) data + r * chunks;
    V4u q[ROW_CHUNKS];
    u32 m = 0;
#pragma unroll
    for (int j = 0; j < ROW_CHUNKS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < chunks) {
            q[j] = row[c];
            m = max(m, chunk_amax<IN>(q[j]));
        }
    }
    m = group_max(m, 32);
    if ((threadIdx.x & 31) == 0) warpMax[threadIdx.x >> 5] = m;
    __syncthreads();
    for (int w = 0; w < (int) (blockDim.x >> 5); w++) m = max(m, warpMax[w]);
    float s = scale_from_amax(__uint_as_float(m), o);
    if (threadIdx.x == 0) put_scale(o, r, s);
    u8* codes = o.codes + r * o.ld;
#pragma unroll
    for (int j = 0; j < ROW_CHUNKS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < chunks) store_chunk_codes<IN>(codes, c, q[j], s, o.fmt);
    }
}

#define INSTANTIATE_CONTIGUOUS(NAME, IN)                                                                         \
    extern "C" __global__ void amax_flat_##NAME(const void* data, long n, u32* totalAmax) {                 \
        amax_flat<IN>(data, n, totalAmax);                                                                \
    }                                                                                                     \
    extern "C" __global__ void cast_flat_##NAME(const void* data, long n, Copy o, const u32* totalAmax,     \
                                                u32* amaxOut) {                                           \
        cast_flat<IN>(data, n, o, totalAmax, amaxOut);                                                    \
    }                                                                                                     \
    extern "C" __global__ void __launch_bounds__(1024) cast_rows_##NAME(const void* data, int cols, Copy o) { \
        cast_rows<IN>(data, cols, o);                                                                     \
    }
INSTANTIATE_CONTIGUOUS(f32, IN_F32)
INSTANTIATE_CONTIGUOUS(bf16, IN_BF16)

// Casts of every granularity of an F32 or BF16 matrix that 128 x 128 tiles cover exactly (rows and cols multiples
// of 128, the data 16-byte aligned), so that the copies have no padding (ld = cols along 1, rows along 0): the
// activations and gradients of a training step; and of an FP8 copy along 1 of such a matrix (REQUANTIZE's backward
// copies), whose codes are dequantized as they are loaded. cast_tiles spends more instructions per byte than the memory
// needs (4-byte stores, a float transpose through shared memory, three barriers a tile), so under the step's power
// cap, where the SM clock drops, it ran at about two thirds of a copy's bandwidth. Here each of 256 threads holds
// a 4 x 16 patch of the tile (4 rows, 16 columns; 8 threads a row, so each row is read as 256 contiguous bytes):
//   along 1, each patch row becomes one 16-byte store of codes;
//   along 0, each patch column becomes one word of 4 codes in a shared 128 x 128 byte tile, which 16-byte loads
//   and stores then carry to the transposed copy, 8 threads a copy row.
// The shared tile's word (column cl, row group g) sits at word g ^ ((cl / 16) * 4) of its row: the 32 threads of a
// warp (8 column groups, 4 row groups) then write 32 different banks, and each group of 4 words stays contiguous for
// the 16-byte loads. One tile a block, with several blocks a multiprocessor to keep loads in flight.
#define WHOLE_THREADS 256

// Element j (< 16) of a thread's patch row, which it holds as 16 F32 or BF16 values (16 or 8 words); FP8 sources are
// held as the F32 values they dequantize to.
template <int IN>
__device__ __forceinline__ float patch_value(const u32 (&w)[16], int j) {
    if (IN == IN_F32 || IN == IN_FP8) return __uint_as_float(w[j]);
    u32 pair = w[j >> 1];
    return __uint_as_float((j & 1) ? pair & 0xFFFF0000u : pair << 16);
}

// A thread's patch of an FP8 source stored along 1 (REQUANTIZE's backward copy): 4 rows from r of 16 codes from c,
// one 16-byte load a row, each code decoded and divided by its scale as load1 does, into w as F32 bits. Every
// granularity's scale is one per patch row: the 16 columns lie within one tile, block or row.
__device__ __forceinline__ void load_fp8_patch(const Source& src, int r, int c, u32 (&w)[4][16]) {
    V4u q[4];
#pragma unroll
    for (int i = 0; i < 4; i++) q[i] = *(const V4u*) ((const u8*) src.data + (long) (r + i) * src.ld + c);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float scale = source_scale(src, r + i, c);
        const u32 words[4] = {q[i].x, q[i].y, q[i].z, q[i].w};
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const u32 code = (words[j >> 2] >> (8 * (j & 3))) & 0xFFu;
            w[i][j] = __float_as_uint(__fdiv_rn(decode_fp8(code, src.fmt), scale));
        }
    }
}

// The largest magnitude (as bits) of a thread's 4 x 16 patch.
template <int IN>
__device__ __forceinline__ u32 patch_max(const u32 (&w)[4][16]) {
    u32 m = 0;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 16; j++) m = max(m, abs_bits(patch_value<IN>(w[i], j)));
    return m;
}

// The along-1 scales of a TILE cast (1 x TILE along the columns) for a thread's 4 patch rows, into s. The G = TILE / 16
// consecutive lanes that hold one tile row take its maximum together; then each of min(G, 4) of them finds one row's
// scale (a division) and writes it, and shuffles hand the scales to the others.
template <int IN, int G>
__device__ __forceinline__ void tile_row_scales(const u32 (&w)[4][16], const Copy& o, int r0, int c0, float (&s)[4]) {
    constexpr int FINDERS = G < 4 ? G : 4;
    const int t = threadIdx.x, lane = t & 31;
    const int group = t & 7, rowGroup = t >> 3;
    u32 m[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        m[i] = 0;
#pragma unroll
        for (int j = 0; j < 16; j++) m[i] = max(m[i], abs_bits(patch_value<IN>(w[i], j)));
        m[i] = group_max(m[i], G);
    }
    const int place = lane & (G - 1), first = lane & ~(G - 1);
#pragma unroll
    for (int k = 0; k < 4 / FINDERS; k++) {
        int mine = k * FINDERS + place % FINDERS;  // the patch row whose scale this lane finds
        u32 a = mine == 0 ? m[0] : mine == 1 ? m[1] : mine == 2 ? m[2] : m[3];
        float found = scale_from_amax(__uint_as_float(a), o);
        if (place < FINDERS) {
            put_scale(o, (long) ((c0 + 16 * group) / (16 * G)) * o.ldScale + r0 + 4 * rowGroup + mine, found);
        }
#pragma unroll
        for (int q = 0; q < FINDERS; q++) s[k * FINDERS + q] = __shfl_sync(0xFFFFFFFFu, found, first + q);
    }
}

// The along-0 scales of a TILE cast (TILE x 1 down the columns) into colScale[g][column], g the group of TILE rows
// (128 / TILE groups). A thread's 16 column maxima over its 4 rows are reduce-scattered over the warp's 4 row groups
// (lane bits 4, then 3), so that each lane stores 4 maxima over the warp's 16 rows as one 16-byte word; then one
// thread per (group, column) takes the maximum over the group's warps, finds the scale and writes it.
template <int IN, int TILE>
__device__ __forceinline__ void tile_column_scales(const u32 (&w)[4][16], const Copy& o, int r0, int c0,
                                                   u32 (&colPart)[8][128], float (&colScale)[4][128]) {
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, group = t & 7;
    u32 m[16];
#pragma unroll
    for (int j = 0; j < 16; j++) {
        m[j] = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) m[j] = max(m[j], abs_bits(patch_value<IN>(w[i], j)));
    }
    const bool upper16 = lane & 16, upper8 = lane & 8;
#pragma unroll
    for (int j = 0; j < 8; j++) {  // keep columns 8..15 (upper16) or 0..7, send the others to the partner
        u32 send = upper16 ? m[j] : m[j + 8], keep = upper16 ? m[j + 8] : m[j];
        m[j] = max(keep, __shfl_xor_sync(0xFFFFFFFFu, send, 16));
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        u32 send = upper8 ? m[j] : m[j + 4], keep = upper8 ? m[j + 4] : m[j];
        m[j] = max(keep, __shfl_xor_sync(0xFFFFFFFFu, send, 8));
    }
    *(V4u*) &colPart[warp][16 * group + (upper16 ? 8 : 0) + (upper8 ? 4 : 0)] = V4u{m[0], m[1], m[2], m[3]};
    __syncthreads();
    constexpr int WARPS_PER_GROUP = TILE / 16;
    for (int idx = t; idx < (128 / TILE) * 128; idx += WHOLE_THREADS) {
        int g = idx >> 7, cl = idx & 127;
        u32 a = 0;
#pragma unroll
        for (int v = g * WARPS_PER_GROUP; v < (g + 1) * WARPS_PER_GROUP; v++) a = max(a, colPart[v][cl]);
        float sc = scale_from_amax(__uint_as_float(a), o);
        colScale[g][cl] = sc;
        put_scale(o, (long) ((r0 + g * TILE) / TILE) * o.ldScale + c0 + cl, sc);
    }
    __syncthreads();
}

// mode: TENSOR, ROWWISE, TILE (tile 128 or 32 along the summed axis of each copy) or BLOCK (128 x 128: the block is
// the tile).
template <int IN>
__device__ __forceinline__ void cast_whole_tile(const Source& src, int mode, int tile, const Copy& rowCopy,
                                                const Copy& colCopy, const u32* rowAmax, const u32* colAmax,
                                                const u32* totalAmax, u32* amaxOut) {
    __shared__ u32 transposed[128][32];
    __shared__ float rowScale[128];
    __shared__ float colScale[4][128];  // rowwise: [0][column]; TILE: [group of tile rows][column]
    __shared__ alignas(16) u32 colPart[8][128];
    __shared__ u32 warpMax[32];
    const int t = threadIdx.x;
    const int group = t & 7;         // the patch's 16 columns: 16 * group ...
    const int rowGroup = t >> 3;     // ... and its 4 rows: 4 * rowGroup ...
    const int r0 = blockIdx.y * 128, c0 = blockIdx.x * 128;
    u32 w[4][16];
    if (IN == IN_FP8) {
        load_fp8_patch(src, r0 + 4 * rowGroup, c0 + 16 * group, w);
    } else {
        const int wordsPerRow = IN == IN_F32 ? 16 : 8;
        // every load first, so that all 64 (F32) or 32 (BF16) bytes of each patch row are in flight at once
#pragma unroll
        for (int i = 0; i < 4; i++) {
            long at = (long) (r0 + 4 * rowGroup + i) * src.ld + c0 + 16 * group;
            const V4u* p = IN == IN_F32 ? (const V4u*) ((const float*) src.data + at)
                                        : (const V4u*) ((const u16*) src.data + at);
#pragma unroll
            for (int k = 0; k < wordsPerRow / 4; k++) {
                V4u q = p[k];
                w[i][4 * k] = q.x; w[i][4 * k + 1] = q.y; w[i][4 * k + 2] = q.z; w[i][4 * k + 3] = q.w;
            }
        }
    }
    // The scales. Tensorwise: once per thread, while the loads are in flight. Rowwise: once per line of the tile
    // (one division each), shared through shared memory. BLOCK: the tile's maximum, then once per thread. TILE: as
    // tile_row_scales and tile_column_scales say.
    float rowS[4], colOne = 0.0f;
    int colGroup = 0;  // the row of colScale this thread's patch reads
    if (mode == MODE_TENSOR || mode == MODE_BLOCK) {
        float rowOne = 0.0f;
        u32 amax;
        if (mode == MODE_TENSOR) {
            amax = *totalAmax;
        } else {
            const u32 m = warp_max(patch_max<IN>(w));
            if ((t & 31) == 0) warpMax[t >> 5] = m;
            __syncthreads();
            amax = 0;
#pragma unroll
            for (int v = 0; v < WHOLE_THREADS / 32; v++) amax = max(amax, warpMax[v]);
            __syncthreads();  // warpMax is report_amax's scratch too
        }
        if (rowCopy.codes) rowOne = scale_from_amax(__uint_as_float(amax), rowCopy);
        if (colCopy.codes) colOne = scale_from_amax(__uint_as_float(amax), colCopy);
        if (t == 0 && (mode == MODE_BLOCK || (blockIdx.x == 0 && blockIdx.y == 0))) {
            long rowAt = mode == MODE_TENSOR ? 0 : (long) blockIdx.y * rowCopy.ldScale + blockIdx.x;
            long colAt = mode == MODE_TENSOR ? 0 : (long) blockIdx.x * colCopy.ldScale + blockIdx.y;
            if (rowCopy.codes) put_scale(rowCopy, rowAt, rowOne);
            if (colCopy.codes) put_scale(colCopy, colAt, colOne);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) rowS[i] = rowOne;
    } else if (mode == MODE_ROWWISE) {
        if (t < 128 && rowCopy.codes) {
            float s = scale_from_amax(__uint_as_float(rowAmax[r0 + t]), rowCopy);
            rowScale[t] = s;
            if (blockIdx.x == 0) put_scale(rowCopy, r0 + t, s);
        } else if (t >= 128 && colCopy.codes) {
            float s = scale_from_amax(__uint_as_float(colAmax[c0 + t - 128]), colCopy);
            colScale[0][t - 128] = s;
            if (blockIdx.y == 0) put_scale(colCopy, c0 + t - 128, s);
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; i++) rowS[i] = rowScale[4 * rowGroup + i];
    } else {
        if (rowCopy.codes) {
            if (tile == 128) tile_row_scales<IN, 8>(w, rowCopy, r0, c0, rowS);
            else tile_row_scales<IN, 2>(w, rowCopy, r0, c0, rowS);
        }
        if (colCopy.codes) {
            if (tile == 128) tile_column_scales<IN, 128>(w, colCopy, r0, c0, colPart, colScale);
            else tile_column_scales<IN, 32>(w, colCopy, r0, c0, colPart, colScale);
        }
        colGroup = 4 * rowGroup / tile;
    }
    const u32 seen = amaxOut != nullptr ? patch_max<IN>(w) : 0;
    if (rowCopy.codes) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float s = rowS[i];
            u32 out[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                out[k] = fp8_pair(__fmul_rn(patch_value<IN>(w[i], 4 * k), s), __fmul_rn(patch_value<IN>(w[i], 4 * k + 1), s),
                                  rowCopy.fmt)
                       | (fp8_pair(__fmul_rn(patch_value<IN>(w[i], 4 * k + 2), s),
                                   __fmul_rn(patch_value<IN>(w[i], 4 * k + 3), s), rowCopy.fmt) << 16);
            }
            *(V4u*) (rowCopy.codes + (long) (r0 + 4 * rowGroup + i) * rowCopy.ld + c0 + 16 * group) =
                    V4u{out[0], out[1], out[2], out[3]};
        }
    }
    if (colCopy.codes) {
        const int swizzled = rowGroup ^ (group << 2);
        const bool oneScale = mode == MODE_TENSOR || mode == MODE_BLOCK;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int cl = 16 * group + j;
            float s = oneScale ? colOne : colScale[colGroup][cl];
            transposed[cl][swizzled] =
                    fp8_pair(__fmul_rn(patch_value<IN>(w[0], j), s), __fmul_rn(patch_value<IN>(w[1], j), s), colCopy.fmt)
                    | (fp8_pair(__fmul_rn(patch_value<IN>(w[2], j), s), __fmul_rn(patch_value<IN>(w[3], j), s),
                                colCopy.fmt) << 16);
        }
        __syncthreads();
        // 128 copy rows of 8 chunks of 16 codes; 8 consecutive threads store one row's 128 bytes
#pragma unroll
        for (int p = 0; p < 4; p++) {
            int chunk = t + p * WHOLE_THREADS;
            int cl = chunk >> 3, k = chunk & 7;
            V4u q = *(const V4u*) &transposed[cl][4 * (k ^ (cl >> 4))];
            *(V4u*) (colCopy.codes + (long) (c0 + cl) * colCopy.ld + r0 + 16 * k) = q;
        }
    }
    report_amax(seen, amaxOut, rowCopy, warpMax);  // an absent copy still carries the cast's fault word and id
}

// One kernel per source type: cast_whole_tiles_f32, _bf16 and _fp8 (an FP8 source stored along 1). Grid: (cols /
// 128, rows / 128); the sizes need no other mention, as the tiles cover the matrix exactly and src.ld, rowCopy.ld and
// colCopy.ld give the strides.
#define INSTANTIATE_WHOLE(NAME, IN, MIN_BLOCKS)                                                                   \
    extern "C" __global__ void __launch_bounds__(WHOLE_THREADS, MIN_BLOCKS) cast_whole_tiles_##NAME(              \
            Source src, int mode, int tile, Copy rowCopy, Copy colCopy, const u32* rowAmax, const u32* colAmax,  \
            const u32* totalAmax, u32* amaxOut) {                                                                \
        cast_whole_tile<IN>(src, mode, tile, rowCopy, colCopy, rowAmax, colAmax, totalAmax, amaxOut);            \
    }
INSTANTIATE_WHOLE(f32, IN_F32, 2)
INSTANTIATE_WHOLE(bf16, IN_BF16, 3)
INSTANTIATE_WHOLE(fp8, IN_FP8, 2)

// The row, column and whole maxima (float bits; each array null where not wanted) of an FP8 source stored along 1
// that 128 x 128 tiles cover, as dequantized: the first pass of REQUANTIZE's tensorwise and rowwise copies, before
// cast_whole_tiles_fp8. amax_tile's sums over cast_whole_tile's patches (load_fp8_patch's 16-byte loads and one scale
// a patch row, where amax_tiles_fp8 loads 4 codes and 4 scales at a time). Grid and threads as cast_whole_tiles'.
extern "C" __global__ void __launch_bounds__(WHOLE_THREADS, 2) amax_whole_tiles_fp8(Source src, u32* rowAmax,
                                                                                 u32* colAmax, u32* totalAmax) {
    __shared__ u32 colPart[WHOLE_THREADS / 32][128];
    __shared__ u32 totalScratch[32];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, group = t & 7, rowGroup = t >> 3;
    const int r0 = blockIdx.y * 128, c0 = blockIdx.x * 128;
    u32 w[4][16];
    load_fp8_patch(src, r0 + 4 * rowGroup, c0 + 16 * group, w);
    u32 col[16], total = 0;
#pragma unroll
    for (int j = 0; j < 16; j++) col[j] = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        u32 m = 0;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const u32 a = abs_bits(__uint_as_float(w[i][j]));
            m = max(m, a);
            col[j] = max(col[j], a);
        }
        total = max(total, m);
        if (rowAmax) {
            m = group_max(m, 8);  // the 8 lanes that hold the row
            if (group == 0) atomicMax(rowAmax + r0 + 4 * rowGroup + i, m);
        }
    }
    if (colAmax) {
        // over the warp's 4 row groups (lane bits 3 and 4), then over the warps through shared memory
#pragma unroll
        for (int j = 0; j < 16; j++) {
            col[j] = max(col[j], __shfl_xor_sync(0xFFFFFFFFu, col[j], 8));
            col[j] = max(col[j], __shfl_xor_sync(0xFFFFFFFFu, col[j], 16));
        }
        if (lane < 8) {
#pragma unroll
            for (int j = 0; j < 16; j++) colPart[warp][16 * group + j] = col[j];
        }
        __syncthreads();
        if (t < 128) {
            u32 m = 0;
#pragma unroll
            for (int v = 0; v < WHOLE_THREADS / 32; v++) m = max(m, colPart[v][t]);
            atomicMax(colAmax + c0 + t, m);
        }
    }
    block_amax(total, DT_F32, totalAmax, totalScratch);
}

// The amax a delayed cast scales from (DeviceAmaxHistory), into *out: the newest of a history's recorded amaxes
// (newest >= 0), or the largest of its first count (newest < 0). Amaxes are non-negative floats, whose bits order as
// their values do (NaN above Inf, so a NaN recorded stays visible). One warp.
extern "C" __global__ void amax_history_reduce(const u32* history, int count, int newest, u32* out) {
    if (newest >= 0) {
        if (threadIdx.x == 0) *out = history[newest];
        return;
    }
    u32 m = 0;
    for (int i = threadIdx.x; i < count; i += 32) m = max(m, history[i]);
    m = warp_max(m);
    if (threadIdx.x == 0) *out = m;
}

// Converts a row-major F32 matrix to BF16 (toBf16 = 1) or BF16 to F32 (toBf16 = 0), rounding to nearest even. Four
// elements per load and store where both arrays are 16-byte aligned (device buffers are): one element per thread
// step, the Llama step's conversion of the head's F32 weight (134 M elements) ran at 2.3 TB/s on an H100.
extern "C" __global__ void convert(const void* in, void* out, long n, int toBf16) {
    const int inType = toBf16 ? DT_F32 : DT_BF16, outType = toBf16 ? DT_BF16 : DT_F32;
    const long stride = (long) gridDim.x * blockDim.x;
    long first = 0;
    if (aligned16(in, out)) {
        for (long q = blockIdx.x * (long) blockDim.x + threadIdx.x; q < n / 4; q += stride) {
            float v[4];
            load4(in, q, inType, v);
            store4(out, q, outType, v);
        }
        first = n / 4 * 4;
    }
    for (long i = first + blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += stride) {
        store_elem(out, i, outType, load_elem(in, i, inType));
    }
}

// Dequantizes an FP8 source into a row-major rows x cols F32 (outType 0) or BF16 (outType 1) matrix.
extern "C" __global__ void dequantize(Source src, int rows, int cols, void* out, int outType) {
    long n = (long) rows * cols;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        int r = (int) (i / cols), c = (int) (i % cols);
        float x = load1<IN_FP8>(src, r, c);
        if (outType == 0) {
            ((float*) out)[i] = x;
        } else {
            ((u16*) out)[i] = bf16_from_float(x);
        }
    }
}

// Transposes a rows x cols matrix of 1-byte (codes) or 4-byte (scales) elements, row stride ldIn, into
// out (cols x rows, row stride ldOut). The backward copy of a tensorwise or 128x128-block tensor is exactly
// its forward copy transposed, with the same scales.
extern "C" __global__ void transpose(const void* in, int rows, int cols, int ldIn, void* out, int ldOut,
                                     int elementBytes) {
    __shared__ u32 t[64][65];
    int r0 = blockIdx.y * 64, c0 = blockIdx.x * 64;
    for (int i = threadIdx.x; i < 64 * 64; i += blockDim.x) {
        int r = r0 + i / 64, c = c0 + i % 64;
        u32 x = 0;
        if (r < rows && c < cols) {
            long at = (long) r * ldIn + c;
            x = elementBytes == 1 ? ((const u8*) in)[at] : ((const u32*) in)[at];
        }
        t[i / 64][i % 64] = x;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < 64 * 64; i += blockDim.x) {
        int c = c0 + i / 64, r = r0 + i % 64;
        if (c < cols && r < rows) {
            long at = (long) c * ldOut + r;
            if (elementBytes == 1) {
                ((u8*) out)[at] = (u8) t[i % 64][i / 64];
            } else {
                ((u32*) out)[at] = t[i % 64][i / 64];
            }
        }
    }
}

// Transposes a rows x cols matrix of FP8 codes (row stride ldIn) into out (cols x rows, row stride ldOut) four
// bytes at a time: transpose's byte loads and stores left it bound by instructions, at a fifth of the memory's
// speed. Needs ldIn, ldOut and both pointers to be multiples of 4; words that cross the matrix's edge go byte by
// byte. A 64 x 64 tile per block of 256 threads: each thread loads four words of input rows and stores four words
// of output rows, each gathered from four input rows in shared memory (rows padded to 68 bytes against bank
// conflicts).
extern "C" __global__ void transpose_codes(const u8* in, int rows, int cols, int ldIn, u8* out, int ldOut) {
    __shared__ u8 t[64][68];
    int r0 = blockIdx.y * 64, c0 = blockIdx.x * 64;
    for (int i = threadIdx.x; i < 64 * 16; i += blockDim.x) {
        int r = i / 16, c = 4 * (i % 16);
        int gr = r0 + r, gc = c0 + c;
        u32 word = 0;
        if (gr < rows) {
            const u8* src = in + (long) gr * ldIn + gc;
            if (gc + 3 < cols) {
                word = *(const u32*) src;
            } else {
                for (int b = 0; b < 4 && gc + b < cols; b++) word |= (u32) src[b] << (8 * b);
            }
        }
        *(u32*) &t[r][c] = word;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < 64 * 16; i += blockDim.x) {
        int c = i / 16, r = 4 * (i % 16);
        int gc = c0 + c, gr = r0 + r;
        if (gc >= cols || gr >= rows) continue;
        u32 word = (u32) t[r][c] | (u32) t[r + 1][c] << 8 | (u32) t[r + 2][c] << 16 | (u32) t[r + 3][c] << 24;
        u8* dst = out + (long) gc * ldOut + gr;
        if (gr + 3 < rows) {
            *(u32*) dst = word;
        } else {
            for (int b = 0; b < 4 && gr + b < rows; b++) dst[b] = (u8) (word >> (8 * b));
        }
    }
}

// The layouts of Source and Copy, as CudaCasts.java checks them at load time.
extern "C" __global__ void cast_layout(long long* out) {
    int i = 0;
    LAYOUT_SIZE(Source);
    LAYOUT_FIELD(Source, data); LAYOUT_FIELD(Source, type); LAYOUT_FIELD(Source, ld); LAYOUT_FIELD(Source, axis);
    LAYOUT_FIELD(Source, fmt); LAYOUT_FIELD(Source, mode); LAYOUT_FIELD(Source, scale); LAYOUT_FIELD(Source, ldScale);
    LAYOUT_FIELD(Source, tile);
    LAYOUT_SIZE(Copy);
    LAYOUT_FIELD(Copy, codes); LAYOUT_FIELD(Copy, ld); LAYOUT_FIELD(Copy, scale); LAYOUT_FIELD(Copy, inv);
    LAYOUT_FIELD(Copy, ldScale); LAYOUT_FIELD(Copy, fmt); LAYOUT_FIELD(Copy, pow2); LAYOUT_FIELD(Copy, castId);
    LAYOUT_FIELD(Copy, fault);
}
