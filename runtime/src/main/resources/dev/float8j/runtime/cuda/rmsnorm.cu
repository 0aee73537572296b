// RMSNorm: y = x * inv * gain, inv = 1 / sqrt(mean(x^2) + eps) per row. x and y F32 or BF16, gain F32 [dim].
// The gain's gradient is reduced deterministically: each block of the backward keeps its rows' column sums in
// shared memory and writes them to its own row of a partials workspace; rms_norm_gain_sum then adds the
// partials, in a fixed order, into gradGain.
#include "common.cuh"

// Whether rows of dim elements fit vectors of 4 per thread in registers, and every pointer allows 16-byte accesses.
__device__ __forceinline__ bool rows_in_registers(int dim, int vectors, const void* a, const void* b, const void* c,
                                                  const void* d = 0, const void* e = 0) {
    return dim % 4 == 0 && dim <= 4 * vectors * (int) blockDim.x && aligned16(a, b, c, d, e);
}

// Bytes of one row of dim elements of dtype in shared memory, rounded up to 16 so that the row after it stays
// 16-byte aligned.
__device__ __forceinline__ int staged_row_bytes(int dim, int dtype) {
    return (dim * (dtype == DT_F32 ? 4 : 2) + 15) & ~15;
}

// Starts copying vector q (elements 4q..4q+3) of the row at vector q0 of an F32 or BF16 array (16-byte aligned) to
// the same place of the row at `row` in shared memory; cp.async.wait_all waits for it.
__device__ __forceinline__ void stage_vector(u8* row, const void* p, long q0, int q, int dtype) {
    if (dtype == DT_F32) {
        asm volatile("cp.async.ca.shared.global [%0], [%1], 16;" ::"r"(shared_address(row + q * 16)),
                     "l"((const F32x4*) p + q0 + q) : "memory");
    } else {
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(shared_address(row + q * 8)),
                     "l"((const BF16x4*) p + q0 + q) : "memory");
    }
}

// The dynamic shared memory this launch was given, in bytes.
__device__ __forceinline__ u32 dynamic_shared_bytes() {
    u32 n;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(n));
    return n;
}

// Blocks of 256 threads per multiprocessor of the forward (its launch bounds: at most 32 registers a thread); the host
// launches as many as fit at once, each looping over rows.
#define FORWARD_BLOCKS_PER_SM 8

// squares + v[0]^2 + v[1]^2 + v[2]^2 + v[3]^2 as a chain of fused multiply-adds, written out: left to the compiler,
// the sum's contraction into FMAs may differ between the kernels of one template, and rms_norm and add_rms_norm then
// differed in the last bit of y (measured on an H100).
__device__ __forceinline__ float squares_into(const float* v, float squares) {
    return fmaf(v[3], v[3], fmaf(v[2], v[2], fmaf(v[1], v[1], fmaf(v[0], v[0], squares))));
}

// Block b normalizes rows b, b + gridDim.x, ...; *amax (null: none) gets y's absolute maximum. With ADD, the rows
// normalized are those of sum = a + b rounded to a's dtype (add's bits), which the kernel also writes: a pre-norm
// block's residual connection met by the next norm, in one pass where an add wrote the sum and the norm read it back.
// One template, so that rms_norm and add_rms_norm run the same additions in the same order and give the same bits as
// add followed by rms_norm, where both stage their rows.
// Dynamic shared memory: two staged rows of a (and with ADD of b after each; staged_row_bytes each); without room for
// them, or where dim is no multiple of 4 or a pointer is not 16-byte aligned, the element-by-element path, whose
// threads sum other elements than the staged path's: the host launches add_rms_norm only where it stages its rows
// (and adds, then normalizes, elsewhere), and the element path traps there.
// The first form had a block per row, each loading its row only when it started and storing it behind two barriers.
// Here each block copies its next row into shared memory (cp.async) while it works on the current one, as the backward
// does; each thread sums the same elements' squares in the same order as the first form. On one H100 (B4 S4096 dim 4096
// BF16, alternated in one call) the first form took 0.107 ms and this one 0.104 (2,574 GB/s; a copy moves about 2,960),
// and in the Llama step both 0.111 ms a call; an earlier H100 had timed the first form at 0.152 ms alone.
template <bool ADD>
__device__ __forceinline__ void norm_forward(const void* a, int aType, const void* b, int bType, const float* gain,
                                             void* sum, void* y, float* inverseRms, int rows, int dim, float eps,
                                             u32* amax) {
    extern __shared__ __align__(16) u8 stagedRows[];
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    const int aBytes = staged_row_bytes(dim, aType);
    const int rowBytes = aBytes + (ADD ? staged_row_bytes(dim, bType) : 0), vectors = dim / 4;
    if (dim % 4 == 0 && aligned16(a, b, sum, y, gain) && 2 * rowBytes <= (int) dynamic_shared_bytes()) {
        // Each thread copies, reads and writes only its own vectors (q = threadIdx.x + k * blockDim.x), so waiting
        // for its own copies is enough, and the staged rows it refills are ones only it used, in the previous
        // iteration.
        auto stage = [&](int r, int parity) {
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                stage_vector(stagedRows + parity * rowBytes, a, (long) r * vectors, q, aType);
                if (ADD) stage_vector(stagedRows + parity * rowBytes + aBytes, b, (long) r * vectors, q, bType);
            }
        };
        if (blockIdx.x < rows) stage(blockIdx.x, 0);
        for (int r = blockIdx.x, parity = 0; r < rows; r += gridDim.x, parity ^= 1) {
            asm volatile("cp.async.wait_all;" ::: "memory");
            if (r + gridDim.x < rows) stage(r + gridDim.x, parity ^ 1);
            u8* row = stagedRows + parity * rowBytes;
            float squares = 0.0f;
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                float v[4];
                load4(row, q, aType, v);
                if (ADD) {
                    float w[4];
                    load4(row + aBytes, q, bType, w);
                    for (int e = 0; e < 4; e++) v[e] = as_stored(v[e] + w[e], aType);
                    store4(sum, (long) r * vectors + q, aType, v);
                    store4(row, q, aType, v);  // the sum replaces a's staged values for the second pass
                }
                squares = squares_into(v, squares);
            }
            const float inv = rsqrtf(block_sum_one_barrier(squares, scratch[parity]) / dim + eps);
            if (threadIdx.x == 0) inverseRms[r] = inv;
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                float v[4], g[4], out[4];
                load4(row, q, aType, v);
                load4(gain, q, DT_F32, g);
                for (int e = 0; e < 4; e++) {
                    out[e] = v[e] * inv * g[e];
                    m = max(m, abs_bits(out[e]));
                }
                store4(y, (long) r * vectors + q, aType, out);
            }
        }
        block_amax(m, aType, amax, amaxScratch);
        return;
    }
    if (ADD) __trap();  // see above: the host launches add_rms_norm only where it stages its rows
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long base = (long) r * dim;
        float squares = 0.0f;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float v = load_elem(a, base + c, aType);
            squares = fmaf(v, v, squares);
        }
        const float inv = rsqrtf(block_sum(squares, scratch[0]) / dim + eps);
        if (threadIdx.x == 0) inverseRms[r] = inv;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float out = load_elem(a, base + c, aType) * inv * gain[c];
            m = max(m, abs_bits(out));
            store_elem(y, base + c, aType, out);
        }
    }
    block_amax(m, aType, amax, amaxScratch);
}

extern "C" __global__ void __launch_bounds__(256, FORWARD_BLOCKS_PER_SM)
rms_norm(const void* x, int xType, const float* gain, void* y, float* inverseRms, int rows, int dim, float eps,
         u32* amax) {
    norm_forward<false>(x, xType, nullptr, 0, gain, nullptr, y, inverseRms, rows, dim, eps, amax);
}

// sum = a + b in a's dtype and y = rms_norm(sum), b of dtype bType (see norm_forward).
extern "C" __global__ void __launch_bounds__(256, FORWARD_BLOCKS_PER_SM)
add_rms_norm(const void* a, int aType, const void* b, int bType, const float* gain, void* sum, void* y,
             float* inverseRms, int rows, int dim, float eps, u32* amax) {
    norm_forward<true>(a, aType, b, bType, gain, sum, y, inverseRms, rows, dim, eps, amax);
}

// The backward keeps fewer vectors per thread (rows of up to 4 * BACKWARD_ROW_VECTORS * blockDim.x elements) so that
// x, dY and the gain-gradient sums all stay in registers and three blocks fit a multiprocessor: with eight vectors
// and the sums in shared memory (4-way bank conflicts) it ran at the speed of the element-by-element loop.
#define BACKWARD_ROW_VECTORS 4
// Blocks of 256 threads per multiprocessor that the backward's registers allow; CudaModelOps launches this many per
// multiprocessor, so that every block is resident and keeps its next row's loads in flight from start to end.
#define BACKWARD_BLOCKS_PER_SM 3

// What the backward writes for dx at element i: dx, or residual[i] + dx rounded to x's dtype.
__device__ __forceinline__ float norm_grad_out(float dx, int xType, const void* residual, long i, int outType) {
    return residual == nullptr ? dx : load_elem(residual, i, outType) + as_stored(dx, xType);
}

// sum[e] += element 4q + e of an F32 or BF16 row, for e < 4.
__device__ __forceinline__ void add4(const void* row, int q, int dtype, float* sum) {
    float more[4];
    load4(row, q, dtype, more);
    for (int e = 0; e < 4; e++) sum[e] += more[e];
}

// Element i of a, or the F32 sum a + b (+ c) of the parts that are not null, in that order.
__device__ __forceinline__ float summed_elem(const void* a, const void* b, const void* c, long i, int dtype) {
    float sum = load_elem(a, i, dtype);
    if (b != nullptr) sum += load_elem(b, i, dtype);
    if (c != nullptr) sum += load_elem(c, i, dtype);
    return sum;
}




// dx = inv * (dy * gain - xhat * mean(dy * gain * xhat)), xhat = x * inv, rounded to x's dtype, where dy is dY's
// element or, with dY2 (and dY3; null: none) of dY's dtype, the F32 sum dY + dY2 (+ dY3) in that order: the gradient of
// a branch whose layers each made a part (q, k and v; gate and up), summed here instead of by adds. dX = dx, or with a
// residual (of dtype outType) dX = residual + dx in outType: a pre-norm block's backward, where the residual path's
// gradient meets the norm's, in one pass instead of a separate add (the same bits as that add). Block b handles rows
// b, b + gridDim.x, ...; its gain-gradient column sums (dy * xhat) go to partials[b * dim + c]. *amax (null: none)
// gets dX's absolute maximum; rms_norm_backward_lines also writes its row maxima and then its column maxima to lines
// (lines.cuh's layout), only for rows held in registers: the host asks for them only there, and the element-by-element
// path traps. Two kernels of one template, so that the one without lines keeps its registers.
// Dynamic shared memory: the element-by-element path's column sums (dim floats), and for rows held in registers the
// staged rows, x's, dY's (and dY2's, dY3's), two of the residual's (staged_row_bytes each), then with lines the block's
// column maxima
// (dim words); without room for those the kernel takes the element-by-element path.
template <bool LINES>
__device__ __forceinline__ void norm_backward(const void* dY, const void* dY2, const void* dY3, int dyType,
                                              const void* x, int xType, const float* gain, const float* inverseRms,
                                              const void* residual, int outType, void* dX, float* partials, int rows,
                                              int dim, u32* amax, u32* lines) {
    extern __shared__ __align__(16) float gainSums[];  // 16-byte aligned for the staged rows
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    int parts = dY3 != nullptr ? 3 : dY2 != nullptr ? 2 : 1;
    int xBytes = staged_row_bytes(dim, xType), dyBytes = staged_row_bytes(dim, dyType);
    int resBytes = residual == nullptr ? 0 : staged_row_bytes(dim, outType);
    int colBytes = LINES ? 4 * dim : 0;
    if (rows_in_registers(dim, BACKWARD_ROW_VECTORS, dY, x, gain, dX, partials) && aligned16(residual, dY2, dY3)
        && xBytes + parts * dyBytes + 2 * resBytes + colBytes <= (int) dynamic_shared_bytes()) {
        // A block works on row r from registers while its next row, r + gridDim.x, is copied into shared memory
        // (cp.async): with the loads of one row issued only after the previous row's reduction and stores, too little
        // was in flight and the backward ran at about half the memory's speed. Each thread copies and reads only its
        // own vectors, so waiting for its own copies is enough; a refill of x's and dY's rows is issued after the
        // row's block sum, whose barrier comes after every thread read them; the residual, read after that barrier,
        // alternates between two rows, so the one refilled was last read before it.
        u8* xRow = (u8*) gainSums;
        u8* dyRow = xRow + xBytes;  // then dY2's and dY3's rows, dyBytes apart
        u8* resRows = dyRow + parts * dyBytes;
        // this thread's columns' maxima, a 16-byte vector per vector of the row that the thread owns (read and
        // written only by it): one load and store per vector where four-byte words 16 bytes apart conflicted in the
        // banks. That was not what makes the backward with lines slower than without: on an H100 it took 0.254 ms
        // in this form and 0.256 with the words, against 0.186 without lines (16384 x 4096 BF16; gpu.md)
        uint4* colMax = (uint4*) (resRows + 2 * resBytes);
        int vectors = dim / 4;
        if (LINES) {
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) colMax[q] = make_uint4(0, 0, 0, 0);
        }
        // starts copying row r (its residual into staged row `parity`) and returns its inverse rms, loaded alongside
        // so that it is at hand when the row is
        auto stage = [&](int r, int parity) {
            long q0 = (long) r * vectors;
#pragma unroll
            for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
                int q = threadIdx.x + j * blockDim.x;
                if (q < vectors) {
                    stage_vector(xRow, x, q0, q, xType);
                    stage_vector(dyRow, dY, q0, q, dyType);
                    if (dY2 != nullptr) stage_vector(dyRow + dyBytes, dY2, q0, q, dyType);
                    if (dY3 != nullptr) stage_vector(dyRow + 2 * dyBytes, dY3, q0, q, dyType);
                    if (residual != nullptr) stage_vector(resRows + parity * resBytes, residual, q0, q, outType);
                }
            }
            return inverseRms[r];
        };
        // thread t owns vectors t + j * blockDim.x of every row: its gain sums stay in its registers
        float sums[BACKWARD_ROW_VECTORS][4] = {};
        float nextInv = blockIdx.x < rows ? stage(blockIdx.x, 0) : 0.0f;
        for (int r = blockIdx.x, parity = 0; r < rows; r += gridDim.x, parity ^= 1) {
            long q0 = (long) r * vectors;
            float inv = nextInv;
            float xs[BACKWARD_ROW_VECTORS][4], dys[BACKWARD_ROW_VECTORS][4];
            float dot = 0.0f;
            asm volatile("cp.async.wait_all;" ::: "memory");
#pragma unroll
            for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
                int q = threadIdx.x + j * blockDim.x;
                if (q < vectors) {
                    float g[4];
                    load4(xRow, q, xType, xs[j]);
                    load4(dyRow, q, dyType, dys[j]);
                    if (parts > 1) add4(dyRow + dyBytes, q, dyType, dys[j]);
                    if (parts > 2) add4(dyRow + 2 * dyBytes, q, dyType, dys[j]);
                    load4(gain, q, DT_F32, g);
                    for (int e = 0; e < 4; e++) {
                        float xhat = xs[j][e] * inv;
                        dot += dys[j][e] * g[e] * xhat;
                        sums[j][e] += dys[j][e] * xhat;
                    }
                }
            }
            float meanDot = block_sum_one_barrier(dot, scratch[parity]) / dim;
            if (r + gridDim.x < rows) nextInv = stage(r + gridDim.x, parity ^ 1);
            u32 rowTop = 0;
#pragma unroll
            for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
                int q = threadIdx.x + j * blockDim.x;
                if (q < vectors) {
                    float g[4], out[4], res[4];
                    u32 a[4];
                    load4(gain, q, DT_F32, g);
                    if (residual != nullptr) load4(resRows + parity * resBytes, q, outType, res);
                    for (int e = 0; e < 4; e++) {
                        out[e] = inv * (dys[j][e] * g[e] - xs[j][e] * inv * meanDot);
                        if (residual != nullptr) out[e] = res[e] + as_stored(out[e], xType);
                        a[e] = abs_bits(out[e]);
                        rowTop = max(rowTop, a[e]);
                    }
                    if (LINES) {
                        uint4 c = colMax[q];
                        colMax[q] = make_uint4(max(c.x, a[0]), max(c.y, a[1]), max(c.z, a[2]), max(c.w, a[3]));
                    }
                    store4(dX, q0 + q, outType, out);
                }
            }
            m = max(m, rowTop);
            if (LINES) {
                rowTop = warp_max(rowTop);
                if ((threadIdx.x & 31) == 0) atomicMax(lines + r, stored_max(rowTop, outType));
            }
        }
        if (LINES) {
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                uint4 c = colMax[q];
                u32* columns = lines + rows + 4 * q;
                atomicMax(columns, stored_max(c.x, outType));
                atomicMax(columns + 1, stored_max(c.y, outType));
                atomicMax(columns + 2, stored_max(c.z, outType));
                atomicMax(columns + 3, stored_max(c.w, outType));
            }
        }
#pragma unroll
        for (int j = 0; j < BACKWARD_ROW_VECTORS; j++) {
            int q = threadIdx.x + j * blockDim.x;
            if (q < vectors) store4(partials, (long) blockIdx.x * vectors + q, DT_F32, sums[j]);
        }
        block_amax(m, outType, amax, amaxScratch);
        return;
    }
    if (LINES) __trap();  // see above: the host asked for line maxima where rows do not fit registers
    for (int c = threadIdx.x; c < dim; c += blockDim.x) gainSums[c] = 0.0f;
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        long base = (long) r * dim;
        float inv = inverseRms[r];
        float dot = 0.0f;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float xhat = load_elem(x, base + c, xType) * inv;
            float dy = summed_elem(dY, dY2, dY3, base + c, dyType);
            dot += dy * gain[c] * xhat;
            gainSums[c] += dy * xhat;  // column c belongs to this thread alone
        }
        float meanDot = block_sum(dot, scratch[0]) / dim;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float xhat = load_elem(x, base + c, xType) * inv;
            float dy = summed_elem(dY, dY2, dY3, base + c, dyType);
            float out = norm_grad_out(inv * (dy * gain[c] - xhat * meanDot), xType, residual, base + c, outType);
            m = max(m, abs_bits(out));
            store_elem(dX, base + c, outType, out);
        }
    }
    for (int c = threadIdx.x; c < dim; c += blockDim.x) partials[(long) blockIdx.x * dim + c] = gainSums[c];
    block_amax(m, outType, amax, amaxScratch);
}

extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
                  const float* gain, const float* inverseRms, const void* residual, int outType, void* dX,
                  float* partials, int rows, int dim, u32* amax) {
    norm_backward<false>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX, partials, rows, dim,
                         amax, nullptr);
}

extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward_lines(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
                        const float* gain, const float* inverseRms, const void* residual, int outType, void* dX,
                        float* partials, int rows, int dim, u32* amax, u32* lines) {
    norm_backward<true>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX, partials, rows, dim,
                        amax, lines);
}

// Columns of the gain a block of rms_norm_gain_sum takes (one per lane of each of its 8 warps).
#define GAIN_SUM_COLUMNS 32

// gradGain[c] += sum over b < blocks of partials[b * dim + c]; gradGain in gainType (F32, or BF16 where the parameter
// keeps a BF16 gradient: rounded once, after the F32 sum). 256 threads a block, GAIN_SUM_COLUMNS columns: warp w sums
// the partials of blocks [blocks * w / 8, blocks * (w + 1) / 8) in order, then the 8 sums are added in warp order, so
// every run gives the same bits. With a thread per column summing all the blocks' partials in one chain, 4,096
// columns were 128 warps on the whole GPU, each waiting on load after load: about 20 us a call for 6.5 MB (the
// Llama step's 396 partials of 4,096 columns; 9 calls a step, 0.18 ms on an H200).
extern "C" __global__ void rms_norm_gain_sum(const float* partials, int blocks, int dim, void* gradGain, int gainType) {
    __shared__ float sums[8][GAIN_SUM_COLUMNS];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int c = blockIdx.x * GAIN_SUM_COLUMNS + lane;
    const int from = (int) ((long) blocks * w / 8), to = (int) ((long) blocks * (w + 1) / 8);
    float sum = 0.0f;
    if (c < dim) {
#pragma unroll 8
        for (int b = from; b < to; b++) sum += partials[(long) b * dim + c];
    }
    sums[w][lane] = sum;
    __syncthreads();
    if (w == 0 && c < dim) {
        float total = 0.0f;
        for (int i = 0; i < 8; i++) total += sums[i][lane];
        store_elem(gradGain, c, gainType, load_elem(gradGain, c, gainType) + total);
    }
}
