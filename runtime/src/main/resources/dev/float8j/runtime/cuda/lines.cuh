// Line maxima: the absolute maximum of every row and of every column of a producer's rows x cols output, which the
// rowwise FP8 casts of the next gemm read instead of passing over the tensor first (one pass over each of the step's
// largest activations and weights, 6.5 ms of a rowwise Llama step on an H100 before producers reported them).
//
// Layout of a line buffer: rows words of row maxima, then cols words of column maxima, each the float bits of the
// largest |value| as stored (see abs_bits and as_stored in common.cuh), zeroed before the kernel runs. It is the layout
// of the cast's own amax pass (amax_tiles in cast.cu), so the cast reads the same bits whichever wrote them.
//
// The work is split so that each thread keeps its columns: the grid is (column strips) x (row groups) in one
// dimension, a strip is LINE_QUADS x 32 quads (4 elements each) wide, and warp w of a block takes rows
// group * LINE_WARPS + w, then every gridRows * LINE_WARPS-th row after it. A lane holds LINE_QUADS quads of a row; a
// row's maximum over the strip is one warp reduction and one atomic, and a column's is kept in registers until the
// block's warps combine theirs in shared memory, one atomic per column per block. A kernel whose column maxima and
// loads would not fit its registers at LINE_QUADS quads a lane passes over_lines a smaller QUADS: then
// LINE_QUADS / QUADS consecutive warps share each row of the strip, each holding QUADS quads a lane of it and making
// its own atomic for the row, and a block takes LINE_WARPS / (LINE_QUADS / QUADS) rows at a time. The strip keeps its
// width, which the host's grid mirrors.
#pragma once
#include "common.cuh"

#define LINE_WARPS 8
#define LINE_QUADS 4
#define LINE_THREADS (LINE_WARPS * 32)
#define LINE_STRIP (LINE_QUADS * 32)  // quads per strip

// Runs quads over every quad q (elements 4q..4q+3, row-major) of a rows x cols matrix (cols % 4 == 0, every array
// 16-byte aligned): quads.load(q, raw) loads what quad q needs into a Quads::Raw, and quads.finish(q, raw, v) computes
// and stores K outputs' four values each, handing them back in v[K][4] as F32 (before rounding to the output's
// dtype). A thread loads its QUADS quads of a row before it finishes any: a store may alias a later load as far
// as the compiler knows, so loads and stores interleaved per quad left one quad's loads in flight per warp, and
// swiglu ran at 1.85 TB/s on an H100 (its grid-stride form, at twice the warps per multiprocessor, near 2.8).
// Folds the outputs' absolute maxima, rounded to dtype[k], into lines[k]
// and into total[k] (this thread's running maximum, unrounded). Launched with LINE_THREADS threads per block and a grid
// of at least one block per strip; blocks past the last whole multiple of the strip count do nothing, as each of them
// would repeat rows that another block holds, and AdamW's update must run once. A grid smaller than the strip count
// traps: no row would be written.
template <int K, int QUADS = LINE_QUADS, class Quads>
__device__ __forceinline__ void over_lines(long rows, int cols, u32* const (&lines)[K], const int (&dtype)[K],
                                           u32 (&total)[K], const Quads& quads) {
    static_assert(LINE_QUADS % QUADS == 0, "a row of the strip is split among whole warps");
    constexpr int SPLIT = LINE_QUADS / QUADS;  // warps sharing a row of the strip
    constexpr int ROWS = LINE_WARPS / SPLIT;   // rows a block holds at a time
    __shared__ u32 part[ROWS][LINE_STRIP * 4];
    int quadsPerRow = cols / 4;
    int strips = (quadsPerRow + LINE_STRIP - 1) / LINE_STRIP;
    int strip = blockIdx.x % strips;
    long gridRows = gridDim.x / strips;
    if (gridRows == 0) __trap();
    if (blockIdx.x >= gridRows * strips) return;  // the whole block: no barrier is left waiting
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int rowWarp = warp / SPLIT, first = warp % SPLIT * QUADS;  // first: the warp's first quad of a row, over 32
    u32 col[K][QUADS][4];
#pragma unroll
    for (int k = 0; k < K; k++)
#pragma unroll
        for (int j = 0; j < QUADS; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) col[k][j][e] = 0;
    for (long r = (long) (blockIdx.x / strips) * ROWS + rowWarp; r < rows; r += gridRows * ROWS) {
        u32 row[K];
#pragma unroll
        for (int k = 0; k < K; k++) row[k] = 0;
        typename Quads::Raw raw[QUADS];
#pragma unroll
        for (int j = 0; j < QUADS; j++) {
            int cq = strip * LINE_STRIP + (first + j) * 32 + lane;
            if (cq < quadsPerRow) quads.load(r * quadsPerRow + cq, raw[j]);
        }
#pragma unroll
        for (int j = 0; j < QUADS; j++) {
            int cq = strip * LINE_STRIP + (first + j) * 32 + lane;
            if (cq < quadsPerRow) {
                float v[K][4];
                quads.finish(r * quadsPerRow + cq, raw[j], v);
#pragma unroll
                for (int k = 0; k < K; k++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        u32 a = abs_bits(v[k][e]);
                        row[k] = max(row[k], a);
                        col[k][j][e] = max(col[k][j][e], a);
                    }
            }
        }
#pragma unroll
        for (int k = 0; k < K; k++) {
            u32 m = warp_max(row[k]);
            total[k] = max(total[k], m);
            if (lane == 0) atomicMax(lines[k] + r, stored_max(m, dtype[k]));
        }
    }
#pragma unroll
    for (int k = 0; k < K; k++) {
        __syncthreads();  // the previous output's reads of part are done
#pragma unroll
        for (int j = 0; j < QUADS; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) part[rowWarp][((first + j) * 32 + lane) * 4 + e] = col[k][j][e];
        __syncthreads();
        for (int c = threadIdx.x; c < LINE_STRIP * 4; c += LINE_THREADS) {
            u32 m = 0;
#pragma unroll
            for (int w = 0; w < ROWS; w++) m = max(m, part[w][c]);
            int column = strip * LINE_STRIP * 4 + c;
            if (column < cols) atomicMax(lines[k] + rows + column, stored_max(m, dtype[k]));
        }
    }
}
