// RMSNorm: y = x * inv * gain, inv = 1 / sqrt(mean(x^2) + eps) per row. x and y F32 or BF16, gain F32 [dim].
// The gain's gradient is reduced deterministically: each block of the backward keeps its rows' column sums (in its
// threads' registers, or in shared memory on the element-by-element path) and writes them to its own row of a
// partials workspace; rms_norm_gain_sum then adds the partials, in a fixed order, into gradGain.
#include "common.cuh"

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

// Block b normalizes rows b, b + gridDim.x, ...; *amax (null: none) gets y's absolute maximum. For rows the register
// kernels below do not take (longer than 4,096 elements, no multiple of 8, or not 16-byte aligned).
// Dynamic shared memory: two staged rows (staged_row_bytes each); without room for them, or where dim is no multiple
// of 4 or a pointer is not 16-byte aligned, the element-by-element path.
// Each block copies its next row into shared memory (cp.async) while it works on the current one. On one H100 (B4
// S4096 dim 4096 BF16) a block per row, each loading its row only when it started, took 0.107 ms, and this 0.104.
extern "C" __global__ void __launch_bounds__(256, FORWARD_BLOCKS_PER_SM)
rms_norm(const void* x, int xType, const float* gain, void* y, float* inverseRms, int rows, int dim, float eps,
         u32* amax) {
    extern __shared__ __align__(16) u8 stagedRows[];
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    const int rowBytes = staged_row_bytes(dim, xType), vectors = dim / 4;
    if (dim % 4 == 0 && aligned16(x, y, gain) && 2 * rowBytes <= (int) dynamic_shared_bytes()) {
        // Each thread copies, reads and writes only its own vectors (q = threadIdx.x + k * blockDim.x), so waiting
        // for its own copies is enough, and the staged rows it refills are ones only it used, in the previous
        // iteration.
        auto stage = [&](int r, int parity) {
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                stage_vector(stagedRows + parity * rowBytes, x, (long) r * vectors, q, xType);
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
                load4(row, q, xType, v);
                squares = fmaf(v[3], v[3], fmaf(v[2], v[2], fmaf(v[1], v[1], fmaf(v[0], v[0], squares))));
            }
            const float inv = rsqrtf(block_sum_one_barrier(squares, scratch[parity]) / dim + eps);
            if (threadIdx.x == 0) inverseRms[r] = inv;
            for (int q = threadIdx.x; q < vectors; q += blockDim.x) {
                float v[4], g[4], out[4];
                load4(row, q, xType, v);
                load4(gain, q, DT_F32, g);
                for (int e = 0; e < 4; e++) {
                    out[e] = v[e] * inv * g[e];
                    m = max(m, abs_bits(out[e]));
                }
                store4(y, (long) r * vectors + q, xType, out);
            }
        }
        block_amax(m, xType, amax, amaxScratch);
        return;
    }
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const long base = (long) r * dim;
        float squares = 0.0f;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float v = load_elem(x, base + c, xType);
            squares = fmaf(v, v, squares);
        }
        const float inv = rsqrtf(block_sum(squares, scratch[0]) / dim + eps);
        if (threadIdx.x == 0) inverseRms[r] = inv;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            float out = load_elem(x, base + c, xType) * inv * gain[c];
            m = max(m, abs_bits(out));
            store_elem(y, base + c, xType, out);
        }
    }
    block_amax(m, xType, amax, amaxScratch);
}

// The backward's threads a block (its launch bounds) and the units of 8 columns each thread holds in registers: rows of
// up to 8 * BACKWARD_ROW_UNITS * 256 elements (4,096) take the register path.
#define BACKWARD_ROW_UNITS 2
// Blocks of 256 threads per multiprocessor that the backward's registers allow; CudaModelOps launches this many per
// multiprocessor, so that every block is resident from start to end, each looping over rows.
#define BACKWARD_BLOCKS_PER_SM 2

// Elements 8u..8u+7 of an array of dtype DT (16-byte aligned) as loaded, before conversion: 8 words of F32, 4 of BF16
// pairs. A thread loads every unit of a row before it converts any, so all its loads are in flight at once: converting
// each as it came made the next load wait for it (0.300 ms against 0.266 for the backward with three dY parts and the
// residual, H100).
template <int DT>
struct Unit {
    u32 w[DT == DT_F32 ? 8 : 4];
};

template <int DT>
__device__ __forceinline__ Unit<DT> load_unit(const void* p, long u) {
    Unit<DT> r;
    const uint4* q = (const uint4*) p + (DT == DT_F32 ? 2 * u : u);
    for (int i = 0; i < (DT == DT_F32 ? 2 : 1); i++) {
        uint4 v = q[i];
        r.w[4 * i] = v.x; r.w[4 * i + 1] = v.y; r.w[4 * i + 2] = v.z; r.w[4 * i + 3] = v.w;
    }
    return r;
}

template <int DT>
__device__ __forceinline__ void unit_to_floats(const Unit<DT>& r, float* v) {
    if (DT == DT_F32) {
        for (int e = 0; e < 8; e++) v[e] = __uint_as_float(r.w[e]);
    } else {
        bf16x4_to_floats(BF16x4{r.w[0], r.w[1]}, v);
        bf16x4_to_floats(BF16x4{r.w[2], r.w[3]}, v + 4);
    }
}

// sum[e] += element e of the unit, for e < 8.
template <int DT>
__device__ __forceinline__ void add_unit(const Unit<DT>& r, float* sum) {
    float more[8];
    unit_to_floats(r, more);
    for (int e = 0; e < 8; e++) sum[e] += more[e];
}

// Stores v as elements 8u..8u+7 of an F32 or BF16 array (16-byte aligned), BF16 rounded to nearest even.
__device__ __forceinline__ void store8(void* p, long u, int dtype, const float* v) {
    if (dtype == DT_F32) {
        ((F32x4*) p)[2 * u] = F32x4{v[0], v[1], v[2], v[3]};
        ((F32x4*) p)[2 * u + 1] = F32x4{v[4], v[5], v[6], v[7]};
    } else {
        u32 w[4];
        for (int i = 0; i < 4; i++) w[i] = (u32) bf16_from_float(v[2 * i]) | (u32) bf16_from_float(v[2 * i + 1]) << 16;
        ((uint4*) p)[u] = make_uint4(w[0], w[1], w[2], w[3]);
    }
}

// The forward that holds rows in registers: FORWARD_ROW_THREADS threads a row, each holding units u = threadIdx.x +
// j * FORWARD_ROW_THREADS (j < FORWARD_ROW_UNITS) of 8 columns, so rows of up to 4,096 elements, a multiple of 8,
// every tensor 16-byte aligned and of dtype DT (the host launches these kernels only there). Block b normalizes rows
// b, b + gridDim.x, ...; *amax (null: none) gets y's absolute maximum. A thread issues every load of its units
// before it converts any, as the backward does.
// With ADD the rows normalized are those of sum = a + b rounded to DT (add's bits), which the kernel also writes: a
// pre-norm block's residual connection met by the next norm, in one pass where an add wrote the sum and the norm read
// it back. One template, so rms_norm_rows and add_rms_norm_rows sum the same squares in the same order and give the
// bits of add followed by rms_norm_rows; the squares' sum is a written-out chain of FMAs, as the compiler's contraction
// of a sum may differ between two kernels (rms_norm and add_rms_norm then differed in the last bit of y on an H100).
// At 16384 x 4096 BF16 on an H100, the staged kernels that came before took 0.1017 ms (rms_norm) and 0.2245
// (add_rms_norm) against 0.1008 and 0.1976 for this form (benchmarks/norm_kernels.cu).
#define FORWARD_ROW_THREADS 128
#define FORWARD_ROW_UNITS 4
// Blocks per multiprocessor at the register kernels' launch bounds (128 registers a thread); CudaModelOps launches this
// many per multiprocessor, each looping over rows. At 5 (102 registers) the F32 add spilled 180 bytes, at 8 (64) every
// kernel but the BF16 norm spilled.
#define FORWARD_ROW_BLOCKS_PER_SM 4

template <int DT, bool ADD>
__device__ __forceinline__ void norm_forward_rows(const void* a, const void* b, const float* gain, void* sum, void* y,
                                                  float* inverseRms, int rows, int dim, float eps, u32* amax) {
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    const int units = dim / 8;
    u32 m = 0;
    for (int r = blockIdx.x, parity = 0; r < rows; r += gridDim.x, parity ^= 1) {
        const long first = (long) r * units;
        Unit<DT> ra[FORWARD_ROW_UNITS], rb[FORWARD_ROW_UNITS];
#pragma unroll
        for (int j = 0; j < FORWARD_ROW_UNITS; j++) {
            const int u = threadIdx.x + j * FORWARD_ROW_THREADS;
            if (u < units) {
                ra[j] = load_unit<DT>(a, first + u);
                if (ADD) rb[j] = load_unit<DT>(b, first + u);
            }
        }
        float v[FORWARD_ROW_UNITS][8];
        float squares = 0.0f;
#pragma unroll
        for (int j = 0; j < FORWARD_ROW_UNITS; j++) {
            const int u = threadIdx.x + j * FORWARD_ROW_THREADS;
            if (u >= units) continue;
            unit_to_floats(ra[j], v[j]);
            if (ADD) {
                float w[8];
                unit_to_floats(rb[j], w);
                for (int e = 0; e < 8; e++) v[j][e] = as_stored(v[j][e] + w[e], DT);
                store8(sum, first + u, DT, v[j]);
            }
            for (int e = 0; e < 8; e++) squares = fmaf(v[j][e], v[j][e], squares);
        }
        // scratch alternates between rows: a thread writes scratch[parity] again only after the next row's barrier,
        // which every thread reaches after reading this row's sums
        const float inv = rsqrtf(block_sum_one_barrier(squares, scratch[parity]) / dim + eps);
        if (threadIdx.x == 0) inverseRms[r] = inv;
#pragma unroll
        for (int j = 0; j < FORWARD_ROW_UNITS; j++) {
            const int u = threadIdx.x + j * FORWARD_ROW_THREADS;
            if (u >= units) continue;
            const F32x4 g0 = ((const F32x4*) gain)[2 * u], g1 = ((const F32x4*) gain)[2 * u + 1];
            const float g[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
            float out[8];
            for (int e = 0; e < 8; e++) {
                out[e] = v[j][e] * inv * g[e];
                m = max(m, abs_bits(out[e]));
            }
            store8(y, first + u, DT, out);
        }
    }
    block_amax(m, DT, amax, amaxScratch);
}

// The register forward's kernels, one per dtype (as the backward's), plain and with the residual add before the norm.
extern "C" __global__ void __launch_bounds__(FORWARD_ROW_THREADS, FORWARD_ROW_BLOCKS_PER_SM)
rms_norm_rows(const void* x, const float* gain, void* y, float* inverseRms, int rows, int dim, float eps, u32* amax) {
    norm_forward_rows<DT_F32, false>(x, nullptr, gain, nullptr, y, inverseRms, rows, dim, eps, amax);
}

extern "C" __global__ void __launch_bounds__(FORWARD_ROW_THREADS, FORWARD_ROW_BLOCKS_PER_SM)
rms_norm_rows_bf16(const void* x, const float* gain, void* y, float* inverseRms, int rows, int dim, float eps,
                   u32* amax) {
    norm_forward_rows<DT_BF16, false>(x, nullptr, gain, nullptr, y, inverseRms, rows, dim, eps, amax);
}

// sum = a + b and y = rms_norm(sum), all F32 (or all BF16 in the _bf16 kernel).
extern "C" __global__ void __launch_bounds__(FORWARD_ROW_THREADS, FORWARD_ROW_BLOCKS_PER_SM)
add_rms_norm_rows(const void* a, const void* b, const float* gain, void* sum, void* y, float* inverseRms, int rows,
                  int dim, float eps, u32* amax) {
    norm_forward_rows<DT_F32, true>(a, b, gain, sum, y, inverseRms, rows, dim, eps, amax);
}

extern "C" __global__ void __launch_bounds__(FORWARD_ROW_THREADS, FORWARD_ROW_BLOCKS_PER_SM)
add_rms_norm_rows_bf16(const void* a, const void* b, const float* gain, void* sum, void* y, float* inverseRms,
                       int rows, int dim, float eps, u32* amax) {
    norm_forward_rows<DT_BF16, true>(a, b, gain, sum, y, inverseRms, rows, dim, eps, amax);
}

// What the backward writes for dx at element i: dx, or residual[i] + dx rounded to x's dtype.
__device__ __forceinline__ float norm_grad_out(float dx, int xType, const void* residual, long i, int outType) {
    return residual == nullptr ? dx : load_elem(residual, i, outType) + as_stored(dx, xType);
}

// Element i of a, or the F32 sum a + b (+ c) of the parts that are not null, in that order.
__device__ __forceinline__ float summed_elem(const void* a, const void* b, const void* c, long i, int dtype) {
    float sum = load_elem(a, i, dtype);
    if (b != nullptr) sum += load_elem(b, i, dtype);
    if (c != nullptr) sum += load_elem(c, i, dtype);
    return sum;
}

// The rows norm_backward (below) holds in registers, every tensor of dtype DT. With lines, colMax (dynamic shared
// memory) holds this thread's columns' maxima, two 16-byte words per unit that only it reads and writes: in registers
// they made the kernel spill.
template <int DT, bool LINES>
__device__ __forceinline__ void norm_backward_rows(const void* dY, const void* dY2, const void* dY3, const void* x,
                                                   const float* gain, const float* inverseRms, const void* residual,
                                                   void* dX, float* partials, int rows, int dim, u32* amax,
                                                   u32* lines, uint4* colMax, float (*scratch)[32], u32* amaxScratch) {
    u32 m = 0;
    const int units = dim / 8;
    float sums[BACKWARD_ROW_UNITS][8] = {};
    if (LINES) {
        for (int u = threadIdx.x; u < units; u += blockDim.x) {
            colMax[2 * u] = colMax[2 * u + 1] = make_uint4(0, 0, 0, 0);
        }
    }
    for (int r = blockIdx.x, parity = 0; r < rows; r += gridDim.x, parity ^= 1) {
        const long u0 = (long) r * units;
        const float inv = inverseRms[r];
        Unit<DT> rx[BACKWARD_ROW_UNITS], rd[BACKWARD_ROW_UNITS][3], rr[BACKWARD_ROW_UNITS];
#pragma unroll
        for (int j = 0; j < BACKWARD_ROW_UNITS; j++) {
            int u = threadIdx.x + j * blockDim.x;
            if (u < units) {
                rx[j] = load_unit<DT>(x, u0 + u);
                rd[j][0] = load_unit<DT>(dY, u0 + u);
                if (dY2 != nullptr) rd[j][1] = load_unit<DT>(dY2, u0 + u);
                if (dY3 != nullptr) rd[j][2] = load_unit<DT>(dY3, u0 + u);
                if (residual != nullptr) rr[j] = load_unit<DT>(residual, u0 + u);
            }
        }
        float xs[BACKWARD_ROW_UNITS][8], dys[BACKWARD_ROW_UNITS][8];
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < BACKWARD_ROW_UNITS; j++) {
            int u = threadIdx.x + j * blockDim.x;
            if (u < units) {
                float g[8];
                unit_to_floats(rx[j], xs[j]);
                unit_to_floats(rd[j][0], dys[j]);
                if (dY2 != nullptr) add_unit(rd[j][1], dys[j]);
                if (dY3 != nullptr) add_unit(rd[j][2], dys[j]);
                unit_to_floats(load_unit<DT_F32>(gain, u), g);
                for (int e = 0; e < 8; e++) {
                    float xhat = xs[j][e] * inv;
                    dot += dys[j][e] * g[e] * xhat;
                    sums[j][e] += dys[j][e] * xhat;
                }
            }
        }
        const float meanDot = block_sum_one_barrier(dot, scratch[parity]) / dim;
        u32 rowTop = 0;
#pragma unroll
        for (int j = 0; j < BACKWARD_ROW_UNITS; j++) {
            int u = threadIdx.x + j * blockDim.x;
            if (u < units) {
                float g[8], out[8], res[8];
                unit_to_floats(load_unit<DT_F32>(gain, u), g);
                if (residual != nullptr) unit_to_floats(rr[j], res);
                u32 a[8];
                for (int e = 0; e < 8; e++) {
                    out[e] = inv * (dys[j][e] * g[e] - xs[j][e] * inv * meanDot);
                    if (residual != nullptr) out[e] = res[e] + as_stored(out[e], DT);
                    a[e] = abs_bits(out[e]);
                    rowTop = max(rowTop, a[e]);
                }
                if (LINES) {
                    uint4 c = colMax[2 * u], d = colMax[2 * u + 1];
                    colMax[2 * u] = make_uint4(max(c.x, a[0]), max(c.y, a[1]), max(c.z, a[2]), max(c.w, a[3]));
                    colMax[2 * u + 1] = make_uint4(max(d.x, a[4]), max(d.y, a[5]), max(d.z, a[6]), max(d.w, a[7]));
                }
                store8(dX, u0 + u, DT, out);
            }
        }
        m = max(m, rowTop);
        if (LINES) {
            rowTop = warp_max(rowTop);
            if ((threadIdx.x & 31) == 0) atomicMax(lines + r, stored_max(rowTop, DT));
        }
    }
#pragma unroll
    for (int j = 0; j < BACKWARD_ROW_UNITS; j++) {
        int u = threadIdx.x + j * blockDim.x;
        if (u < units) {
            store8(partials, (long) blockIdx.x * units + u, DT_F32, sums[j]);
            if (LINES) {
                const u32* c = (const u32*) (colMax + 2 * u);
                for (int e = 0; e < 8; e++) atomicMax(lines + rows + 8 * u + e, stored_max(c[e], DT));
            }
        }
    }
    block_amax(m, DT, amax, amaxScratch);
}

// dx = inv * (dy * gain - xhat * mean(dy * gain * xhat)), xhat = x * inv, rounded to x's dtype, where dy is dY's
// element or, with dY2 (and dY3; null: none) of dY's dtype, the F32 sum dY + dY2 (+ dY3) in that order: the gradient of
// a branch whose layers each made a part (q, k and v; gate and up), summed here instead of by adds. dX = dx, or with a
// residual (of dtype outType) dX = residual + dx in outType: a pre-norm block's backward, where the residual path's
// gradient meets the norm's, in one pass instead of a separate add (the same bits as that add). Block b handles rows
// b, b + gridDim.x, ...; its gain-gradient column sums (dy * xhat) go to partials[b * dim + c]. *amax (null: none)
// gets dX's absolute maximum; rms_norm_backward_lines also writes its row maxima and then its column maxima to lines
// (lines.cuh's layout), only for rows held in registers: the host asks for them only there, and the element-by-element
// path traps. Kernels of one template, so that the ones without lines keep their registers.
// Rows held in registers: dim a multiple of 8 of at most 8 * BACKWARD_ROW_UNITS * blockDim.x, every pointer 16-byte
// aligned, x, dY and dX of the kernel's dtype ROWS_DT. Thread t owns the units of 8 columns t + j * blockDim.x of every
// row, so its gain sums stay in its registers (its column maxima in shared memory), and it loads each row's x, dY parts
// and residual with 16-byte loads, all issued before it uses any.
// The first form copied each block's next row into shared memory (cp.async) while it worked on the current one, in
// units of 4 elements. On an H100 at 16384 x 4096 BF16 (ModelOpsBenchmark, gpu.md) it took 0.180 ms, this one 0.171;
// with three dY parts and the residual 0.293 against 0.236 (3.4 TB/s, where a device copy moves 2.94).
// Dynamic shared memory: dim words, the column maxima's with lines, else the element-by-element path's column sums.
template <int ROWS_DT, bool LINES>
__device__ __forceinline__ void norm_backward(const void* dY, const void* dY2, const void* dY3, int dyType,
                                              const void* x, int xType, const float* gain, const float* inverseRms,
                                              const void* residual, int outType, void* dX, float* partials, int rows,
                                              int dim, u32* amax, u32* lines) {
    extern __shared__ __align__(16) float gainSums[];
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    u32 m = 0;
    if (dim % 8 == 0 && dim <= 8 * BACKWARD_ROW_UNITS * (int) blockDim.x && aligned16(dY, x, gain, dX, partials)
        && aligned16(residual, dY2, dY3) && xType == ROWS_DT && dyType == ROWS_DT && outType == ROWS_DT) {
        norm_backward_rows<ROWS_DT, LINES>(dY, dY2, dY3, x, gain, inverseRms, residual, dX, partials, rows, dim, amax,
                                           lines, (uint4*) gainSums, scratch, amaxScratch);
        return;
    }
    // see above: the host asks for line maxima only where rows fit registers, and gives the column sums their room
    if (LINES || 4 * dim > (int) dynamic_shared_bytes()) __trap();
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

// The backward's kernels, one per dtype of the rows it holds in registers (x, dY and dX all F32, or all BF16; one
// kernel for both dtypes spilled 130-290 bytes at these bounds, where the BF16 ones alone do not), with and without
// lines; each takes the element-by-element path for other rows. The F32 ones spill 120-210 bytes (their rows' words
// are twice the BF16 ones'). At three blocks a multiprocessor (80 registers) the BF16 ones spilled too.
extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
    const float* gain, const float* inverseRms, const void* residual, int outType, void* dX, float* partials, int rows,
    int dim, u32* amax) {
    norm_backward<DT_F32, false>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX,
        partials, rows, dim, amax, nullptr);
}

extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward_lines(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
    const float* gain, const float* inverseRms, const void* residual, int outType, void* dX, float* partials, int rows,
    int dim, u32* amax, u32* lines) {
    norm_backward<DT_F32, true>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX,
        partials, rows, dim, amax, lines);
}

extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward_bf16(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
    const float* gain, const float* inverseRms, const void* residual, int outType, void* dX, float* partials, int rows,
    int dim, u32* amax) {
    norm_backward<DT_BF16, false>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX,
        partials, rows, dim, amax, nullptr);
}

extern "C" __global__ void __launch_bounds__(256, BACKWARD_BLOCKS_PER_SM)
rms_norm_backward_lines_bf16(const void* dY, const void* dY2, const void* dY3, int dyType, const void* x, int xType,
    const float* gain, const float* inverseRms, const void* residual, int outType, void* dX, float* partials, int rows,
    int dim, u32* amax, u32* lines) {
    norm_backward<DT_BF16, true>(dY, dY2, dY3, dyType, x, xType, gain, inverseRms, residual, outType, dX,
        partials, rows, dim, amax, lines);
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
