// Times rmsnorm.cu's kernels beside other designs of the same ops, without Java: compiled by nvcc on a Hopper host by
// benchmarks/norm-kernels.sh, which copies rmsnorm.cu and common.cuh beside this one.
//
// Written where rmsnorm.cu's kernels all staged rows in shared memory and moved 2.3-2.7 TB/s on an H200, against 4.05
// for a plain add; its backward has since taken the form of bwd_rows<256> below, and its forward (rms_norm_rows,
// add_rms_norm_rows) that of fwd_rows<128>, with the staged rms_norm kept for other rows. The designs here keep a row in
// registers instead of shared memory, with a few threads per row and many rows resident:
//   fwd_rows<T, ADD, PREFETCH>: T threads a row (T = 32: a warp a row, four rows a block; else a block a row), each
//     thread loading its 16-byte vectors of the row at once; PREFETCH loads the block's next row into registers
//     before the current one is reduced.
//   bwd_rows<T, PARTS, RESIDUAL, PREFETCH>: a block of T threads a row; each thread keeps its columns' gain sums in
//     registers across the rows it takes; dY is the sum of PARTS tensors; with RESIDUAL, dX = residual + dx.
// Each is checked against rmsnorm.cu's kernel on the same data (y or dX: elements that differ, the largest
// difference; inverse rms; the gain gradient after summing the partials in double) and timed at 16384 x 4096 BF16,
// the Llama step's shape: ten launches, best of three rounds, GB/s counting each tensor read or written once.
// Usage: norm_kernels [profile]: "profile" runs one launch of each kernel and no checks (for Nsight Compute).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "rmsnorm.cu"
#include "kernel_bench.cuh"

// Eight BF16 values (16 bytes) as floats, and back.
struct alignas(16) BF16x8 { u32 w[4]; };

__device__ __forceinline__ void bf16x8_to_floats(const BF16x8& b, float* v) {
    for (int i = 0; i < 4; i++) {
        v[2 * i] = __uint_as_float(b.w[i] << 16);
        v[2 * i + 1] = __uint_as_float(b.w[i] & 0xFFFF0000u);
    }
}

__device__ __forceinline__ BF16x8 floats_to_bf16x8(const float* v) {
    BF16x8 b;
    for (int i = 0; i < 4; i++) b.w[i] = (u32) bf16_from_float(v[2 * i]) | (u32) bf16_from_float(v[2 * i + 1]) << 16;
    return b;
}

// The sum of v over the T threads of a row: a warp's shuffles, then (T > 32) the warps' sums through scratch with
// one barrier (callers alternate between two scratch arrays, as block_sum_one_barrier's do).
template <int T>
__device__ __forceinline__ float row_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    if (T == 32) return v;
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < T / 32; w++) s += scratch[w];
    return s;
}

// Forward, dim = 8 * V * T (BF16 rows, 16-byte aligned), persistent: row group g of G takes rows g, g + G, ...
template <int T, int V, bool ADD, bool PREFETCH>
__global__ void __launch_bounds__(T == 32 ? 128 : T) fwd_rows(const BF16x8* a, const BF16x8* b, const float* gain,
                                                             BF16x8* sum, BF16x8* y, float* inverseRms, int rows,
                                                             float eps, u32* amax) {
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    const int lane = T == 32 ? threadIdx.x & 31 : threadIdx.x;
    const int group = T == 32 ? blockIdx.x * 4 + (threadIdx.x >> 5) : blockIdx.x;
    const int groups = T == 32 ? gridDim.x * 4 : gridDim.x;
    const int vectors = V * T;  // per row
    u32 m = 0;
    BF16x8 ra[V], rb[V];
    auto load = [&](int r) {
#pragma unroll
        for (int j = 0; j < V; j++) {
            ra[j] = a[(long) r * vectors + lane + j * T];
            if (ADD) rb[j] = b[(long) r * vectors + lane + j * T];
        }
    };
    if (PREFETCH && group < rows) load(group);
    int parity = 0;
    for (int r = group; r < rows; r += groups, parity ^= 1) {
        if (!PREFETCH) load(r);
        float v[V][8];
#pragma unroll
        for (int j = 0; j < V; j++) {
            bf16x8_to_floats(ra[j], v[j]);
            if (ADD) {
                float w[8];
                bf16x8_to_floats(rb[j], w);
                for (int e = 0; e < 8; e++) v[j][e] = as_stored(v[j][e] + w[e], DT_BF16);
                sum[(long) r * vectors + lane + j * T] = floats_to_bf16x8(v[j]);
            }
        }
        if (PREFETCH && r + groups < rows) load(r + groups);
        float squares = 0.0f;
#pragma unroll
        for (int j = 0; j < V; j++) {
            for (int e = 0; e < 8; e++) squares = fmaf(v[j][e], v[j][e], squares);
        }
        const float inv = rsqrtf(row_sum<T>(squares, scratch[parity]) / (8 * vectors) + eps);
        if (lane == 0) inverseRms[r] = inv;
#pragma unroll
        for (int j = 0; j < V; j++) {
            float out[8];
            const F32x4* g = (const F32x4*) gain + 2 * (lane + j * T);
            F32x4 g0 = g[0], g1 = g[1];
            float gs[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
            for (int e = 0; e < 8; e++) {
                out[e] = v[j][e] * inv * gs[e];
                m = max(m, abs_bits(out[e]));
            }
            y[(long) r * vectors + lane + j * T] = floats_to_bf16x8(out);
        }
    }
    block_amax(m, DT_BF16, amax, amaxScratch);
}

// Backward, dim = 8 * V * T, a block of T threads a row, persistent; partials[blockIdx.x * dim + c] gets the block's
// gain sums.
template <int T, int V, int PARTS, bool RESIDUAL, bool PREFETCH>
__global__ void __launch_bounds__(T) bwd_rows(const BF16x8* dY, const BF16x8* dY2, const BF16x8* dY3, const BF16x8* x,
                                              const float* gain, const float* inverseRms, const BF16x8* residual,
                                              BF16x8* dX, float* partials, int rows, u32* amax) {
    __shared__ float scratch[2][32];
    __shared__ u32 amaxScratch[32];
    const int vectors = V * T;
    u32 m = 0;
    float sums[V][8] = {};
    BF16x8 rx[V], rd[V][PARTS], rr[V];
    float rinv = 0.0f;
    auto load = [&](int r) {
#pragma unroll
        for (int j = 0; j < V; j++) {
            long q = (long) r * vectors + threadIdx.x + j * T;
            rx[j] = x[q];
            rd[j][0] = dY[q];
            if (PARTS > 1) rd[j][1] = dY2[q];
            if (PARTS > 2) rd[j][2] = dY3[q];
            if (RESIDUAL) rr[j] = residual[q];
        }
        rinv = inverseRms[r];
    };
    if (PREFETCH && blockIdx.x < rows) load(blockIdx.x);
    int parity = 0;
    for (int r = blockIdx.x; r < rows; r += gridDim.x, parity ^= 1) {
        if (!PREFETCH) load(r);
        const float inv = rinv;
        float xs[V][8], dys[V][8], res[V][8];
#pragma unroll
        for (int j = 0; j < V; j++) {
            bf16x8_to_floats(rx[j], xs[j]);
            bf16x8_to_floats(rd[j][0], dys[j]);
            for (int p = 1; p < PARTS; p++) {
                float more[8];
                bf16x8_to_floats(rd[j][p], more);
                for (int e = 0; e < 8; e++) dys[j][e] += more[e];
            }
            if (RESIDUAL) bf16x8_to_floats(rr[j], res[j]);
        }
        if (PREFETCH && r + gridDim.x < rows) load(r + gridDim.x);
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < V; j++) {
            const F32x4* g = (const F32x4*) gain + 2 * (threadIdx.x + j * T);
            F32x4 g0 = g[0], g1 = g[1];
            float gs[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
            for (int e = 0; e < 8; e++) {
                float xhat = xs[j][e] * inv;
                dot += dys[j][e] * gs[e] * xhat;
                sums[j][e] += dys[j][e] * xhat;
            }
        }
        const float meanDot = row_sum<T>(dot, scratch[parity]) / (8 * vectors);
#pragma unroll
        for (int j = 0; j < V; j++) {
            const F32x4* g = (const F32x4*) gain + 2 * (threadIdx.x + j * T);
            F32x4 g0 = g[0], g1 = g[1];
            float gs[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
            float out[8];
            for (int e = 0; e < 8; e++) {
                out[e] = inv * (dys[j][e] * gs[e] - xs[j][e] * inv * meanDot);
                if (RESIDUAL) out[e] = res[j][e] + as_stored(out[e], DT_BF16);
                m = max(m, abs_bits(out[e]));
            }
            dX[(long) r * vectors + threadIdx.x + j * T] = floats_to_bf16x8(out);
        }
    }
#pragma unroll
    for (int j = 0; j < V; j++) {
        float* p = partials + (long) blockIdx.x * 8 * vectors + 8 * (threadIdx.x + j * T);
        ((F32x4*) p)[0] = F32x4{sums[j][0], sums[j][1], sums[j][2], sums[j][3]};
        ((F32x4*) p)[1] = F32x4{sums[j][4], sums[j][5], sums[j][6], sums[j][7]};
    }
    block_amax(m, DT_BF16, amax, amaxScratch);
}

// ---------------------------------------------------------------------------------------------------------- host

static const int ROWS = 16384, DIM = 4096;
static int sms;
static bool profileMode;

static float uniform() {
    return (float) random_unit() * 2.0f - 1.0f;
}

static void* device_bf16(long n, float scale) {
    std::vector<u16> h(n);
    for (long i = 0; i < n; i++) h[i] = to_bf16(scale * uniform());
    void* d;
    CHECK_CUDA(cudaMalloc(&d, n * 2));
    CHECK_CUDA(cudaMemcpy(d, h.data(), n * 2, cudaMemcpyHostToDevice));
    return d;
}

static void* device_zero(long bytes) {
    void* d;
    CHECK_CUDA(cudaMalloc(&d, bytes));
    CHECK_CUDA(cudaMemset(d, 0, bytes));
    return d;
}

static std::vector<u16> host_bf16(const void* d, long n) {
    std::vector<u16> h(n);
    CHECK_CUDA(cudaMemcpy(h.data(), d, n * 2, cudaMemcpyDeviceToHost));
    return h;
}

static std::vector<float> host_f32(const void* d, long n) {
    std::vector<float> h(n);
    CHECK_CUDA(cudaMemcpy(h.data(), d, n * 4, cudaMemcpyDeviceToHost));
    return h;
}

// Best of three rounds of ten launches, in ms a launch.
template <typename F>
static float time_ms(F launch) {
    cudaEvent_t s, e;
    CHECK_CUDA(cudaEventCreate(&s));
    CHECK_CUDA(cudaEventCreate(&e));
    launch();
    CHECK_CUDA(cudaDeviceSynchronize());
    if (profileMode) return 0;
    float best = 1e30f;
    for (int round = 0; round < 3; round++) {
        CHECK_CUDA(cudaEventRecord(s));
        for (int i = 0; i < 10; i++) launch();
        CHECK_CUDA(cudaEventRecord(e));
        CHECK_CUDA(cudaEventSynchronize(e));
        float ms;
        CHECK_CUDA(cudaEventElapsedTime(&ms, s, e));
        best = fminf(best, ms / 10);
    }
    CHECK_CUDA(cudaGetLastError());
    return best;
}

// Elements of two BF16 arrays that differ, and the largest difference relative to the largest |value|.
static void compare_bf16(const char* what, const void* want, const void* got, long n) {
    std::vector<u16> w = host_bf16(want, n), g = host_bf16(got, n);
    long differ = 0;
    double worst = 0, top = 0;
    for (long i = 0; i < n; i++) {
        double a = from_bf16(w[i]), b = from_bf16(g[i]);
        top = fmax(top, fabs(a));
        if (w[i] != g[i]) {
            differ++;
            worst = fmax(worst, fabs(a - b));
        }
        if (std::isnan(b) != std::isnan(a)) worst = INFINITY;
    }
    printf("  %s: %ld of %ld differ, largest difference %.3g of max |value| %.3g%s\n", what, differ, n, worst, top,
           worst > 0.02 * top ? "  FAIL" : "");
}

static void compare_f32(const char* what, const std::vector<double>& want, const std::vector<double>& got) {
    double worst = 0, top = 0;
    for (size_t i = 0; i < want.size(); i++) {
        top = fmax(top, fabs(want[i]));
        worst = fmax(worst, fabs(want[i] - got[i]));
    }
    printf("  %s: largest difference %.3g of max |value| %.3g%s\n", what, worst, top, worst > 1e-4 * top ? "  FAIL" : "");
}

static std::vector<double> column_sums(const float* partials, int blocks) {
    std::vector<float> h = host_f32(partials, (long) blocks * DIM);
    std::vector<double> s(DIM, 0.0);
    for (int b = 0; b < blocks; b++)
        for (int c = 0; c < DIM; c++) s[c] += h[(long) b * DIM + c];
    return s;
}

static void report(const char* name, float ms, double bytes) {
    if (!profileMode) printf("%s,%.4f,%.0f\n", name, ms, bytes / (ms * 1e6));
}

struct Data {
    void *x, *b, *dy, *dy2, *dy3, *res, *y, *sum, *dx;
    float *gain, *inv, *partials;
    u32* amax;
};

template <int T, bool ADD, bool PREFETCH>
static void forward_variant(const char* name, Data& d, int blocksPerSm) {
    const int V = DIM / 8 / T;
    auto kernel = fwd_rows<T, V, ADD, PREFETCH>;
    int perSm;
    CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, T == 32 ? 128 : T, 0));
    int groupsPerBlock = T == 32 ? 4 : 1;
    int blocks = (blocksPerSm > 0 ? blocksPerSm : perSm) * sms;
    blocks = std::min(blocks, (ROWS + groupsPerBlock - 1) / groupsPerBlock);
    auto launch = [&] {
        kernel<<<blocks, T == 32 ? 128 : T>>>((const BF16x8*) d.x, (const BF16x8*) d.b, d.gain, (BF16x8*) d.sum,
                                               (BF16x8*) d.y, d.inv, ROWS, 1e-5f, d.amax);
    };
    float ms = time_ms(launch);
    char label[160];
    snprintf(label, sizeof label, "%s (%d blocks, %d a multiprocessor at most)", name, blocks, perSm);
    report(label, ms, (ADD ? 4.0 : 2.0) * 2 * ROWS * DIM);
}

template <int T, int PARTS, bool RESIDUAL, bool PREFETCH>
static void backward_variant(const char* name, Data& d, int blocksPerSm, const std::vector<double>& gainWant,
                             const void* dxWant) {
    const int V = DIM / 8 / T;
    auto kernel = bwd_rows<T, V, PARTS, RESIDUAL, PREFETCH>;
    int perSm;
    CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, T, 0));
    int blocks = std::min(ROWS, (blocksPerSm > 0 ? blocksPerSm : perSm) * sms);
    CHECK_CUDA(cudaMemset(d.dx, 0xFF, 2L * ROWS * DIM));
    auto launch = [&] {
        kernel<<<blocks, T>>>((const BF16x8*) d.dy, (const BF16x8*) d.dy2, (const BF16x8*) d.dy3,
                              (const BF16x8*) d.x, d.gain, d.inv, (const BF16x8*) d.res, (BF16x8*) d.dx, d.partials,
                              ROWS, d.amax);
    };
    float ms = time_ms(launch);
    char label[160];
    snprintf(label, sizeof label, "%s (%d blocks, %d a multiprocessor at most)", name, blocks, perSm);
    report(label, ms, (2.0 + PARTS + (RESIDUAL ? 1 : 0)) * 2 * ROWS * DIM);
    if (!profileMode) {
        compare_bf16("dX against rmsnorm.cu", dxWant, d.dx, (long) ROWS * DIM);
        compare_f32("gain gradient against rmsnorm.cu", gainWant, column_sums(d.partials, blocks));
    }
}

int main(int argc, char** argv) {
    profileMode = argc > 1 && strcmp(argv[1], "profile") == 0;
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    sms = prop.multiProcessorCount;
    printf("# %s, %d multiprocessors; %d x %d BF16\n", prop.name, sms, ROWS, DIM);
    long n = (long) ROWS * DIM;
    Data d;
    d.x = device_bf16(n, 3.0f);
    d.b = device_bf16(n, 1.0f);
    d.dy = device_bf16(n, 1.0f);
    d.dy2 = device_bf16(n, 1.0f);
    d.dy3 = device_bf16(n, 1.0f);
    d.res = device_bf16(n, 2.0f);
    d.y = device_zero(2 * n);
    d.sum = device_zero(2 * n);
    d.dx = device_zero(2 * n);
    std::vector<float> g(DIM);
    for (int c = 0; c < DIM; c++) g[c] = 1.0f + 0.5f * uniform();
    CHECK_CUDA(cudaMalloc(&d.gain, DIM * 4));
    CHECK_CUDA(cudaMemcpy(d.gain, g.data(), DIM * 4, cudaMemcpyHostToDevice));
    d.inv = (float*) device_zero(ROWS * 4);
    d.partials = (float*) device_zero(4L * 4096 * DIM);  // enough for 4,096 blocks
    d.amax = (u32*) device_zero(4);
    void* yWant = device_zero(2 * n);
    void* sumWant = device_zero(2 * n);
    void* dxWant = device_zero(2 * n);
    float* invWant = (float*) device_zero(ROWS * 4);

    // rmsnorm.cu's kernels, launched as CudaModelOps launches them
    printf("kernel,ms,gb_per_s\n");
    const int rowBytes = 2 * DIM;
    int fwdBlocks = std::min(ROWS, std::min(8, (int) (prop.sharedMemPerMultiprocessor / (2 * rowBytes + 2048))) * sms);
    CHECK_CUDA(cudaFuncSetAttribute(rms_norm, cudaFuncAttributeMaxDynamicSharedMemorySize, 96 * 1024));
    CHECK_CUDA(cudaFuncSetAttribute(rms_norm_backward_bf16, cudaFuncAttributeMaxDynamicSharedMemorySize, 96 * 1024));
    // the staged kernel, which the library keeps for rows the register kernels do not take
    report("rms_norm staged (rmsnorm.cu)", time_ms([&] {
               rms_norm<<<fwdBlocks, 256, 2 * rowBytes>>>(d.x, DT_BF16, d.gain, d.y, d.inv, ROWS, DIM, 1e-5f, d.amax);
           }),
           2.0 * 2 * n);
    const int rowBlocks = std::min(ROWS, FORWARD_ROW_BLOCKS_PER_SM * sms);
    report("add_rms_norm_rows_bf16 (rmsnorm.cu)", time_ms([&] {
               add_rms_norm_rows_bf16<<<rowBlocks, FORWARD_ROW_THREADS>>>(d.x, d.b, d.gain, sumWant, yWant, invWant,
                                                                          ROWS, DIM, 1e-5f, d.amax);
           }),
           4.0 * 2 * n);
    report("rms_norm_rows_bf16 (rmsnorm.cu)", time_ms([&] {
               rms_norm_rows_bf16<<<rowBlocks, FORWARD_ROW_THREADS>>>(d.x, d.gain, yWant, invWant, ROWS, DIM, 1e-5f,
                                                                      d.amax);
           }),
           2.0 * 2 * n);
    CHECK_CUDA(cudaDeviceSynchronize());

    auto checkForward = [&](bool add) {
        if (profileMode) return;
        compare_bf16(add ? "y against add_rms_norm_rows" : "y against rms_norm_rows", yWant, d.y, n);
        std::vector<float> a = host_f32(invWant, ROWS), b = host_f32(d.inv, ROWS);
        double worst = 0;
        for (int r = 0; r < ROWS; r++) worst = fmax(worst, fabs(a[r] - b[r]) / a[r]);
        printf("  inverse rms: largest relative difference %.3g%s\n", worst, worst > 1e-5 ? "  FAIL" : "");
        if (add) compare_bf16("sum against add_rms_norm_rows", sumWant, d.sum, n);
    };
    checkForward(false);  // the staged kernel's y
    forward_variant<32, false, false>("fwd warp a row", d, 0);
    checkForward(false);
    forward_variant<32, false, true>("fwd warp a row, prefetch", d, 0);
    checkForward(false);
    forward_variant<64, false, false>("fwd 64 a row", d, 0);
    checkForward(false);
    forward_variant<128, false, false>("fwd 128 a row", d, 0);
    checkForward(false);
    forward_variant<128, false, true>("fwd 128 a row, prefetch", d, 0);
    checkForward(false);
    forward_variant<256, false, true>("fwd 256 a row, prefetch", d, 0);
    checkForward(false);
    add_rms_norm_rows_bf16<<<rowBlocks, FORWARD_ROW_THREADS>>>(d.x, d.b, d.gain, sumWant, yWant, invWant, ROWS, DIM,
                                                               1e-5f, d.amax);
    CHECK_CUDA(cudaDeviceSynchronize());
    forward_variant<32, true, false>("add fwd warp a row", d, 0);
    checkForward(true);
    forward_variant<64, true, false>("add fwd 64 a row", d, 0);
    checkForward(true);
    forward_variant<128, true, false>("add fwd 128 a row", d, 0);
    checkForward(true);
    forward_variant<128, true, true>("add fwd 128 a row, prefetch", d, 0);
    checkForward(true);

    // backward: plain, then the step's form before attention (three parts and the residual)
    int bwdBlocks = std::min(ROWS, BACKWARD_BLOCKS_PER_SM * sms);
    for (int form = 0; form < 2; form++) {
        bool sum3 = form == 1;
        int shared = 4 * DIM;  // the column sums or maxima (rmsnorm.cu)
        report(sum3 ? "rms_norm_backward sum3 residual (rmsnorm.cu)" : "rms_norm_backward (rmsnorm.cu)",
               time_ms([&] {
                   rms_norm_backward_bf16<<<bwdBlocks, 256, shared>>>(d.dy, sum3 ? d.dy2 : nullptr,
                                                                 sum3 ? d.dy3 : nullptr, DT_BF16, d.x, DT_BF16,
                                                                 d.gain, invWant, sum3 ? d.res : nullptr, DT_BF16,
                                                                 dxWant, d.partials, ROWS, DIM, d.amax);
               }),
               (sum3 ? 6.0 : 3.0) * 2 * n);
        CHECK_CUDA(cudaMemcpy(d.inv, invWant, ROWS * 4, cudaMemcpyDeviceToDevice));
        std::vector<double> gainWant = column_sums(d.partials, bwdBlocks);
        if (!sum3) {
            backward_variant<128, 1, false, false>("bwd 128 a row", d, 0, gainWant, dxWant);
            backward_variant<128, 1, false, true>("bwd 128 a row, prefetch", d, 0, gainWant, dxWant);
            backward_variant<256, 1, false, false>("bwd 256 a row", d, 0, gainWant, dxWant);
            backward_variant<256, 1, false, true>("bwd 256 a row, prefetch", d, 0, gainWant, dxWant);
            backward_variant<512, 1, false, true>("bwd 512 a row, prefetch", d, 0, gainWant, dxWant);
        } else {
            backward_variant<128, 3, true, false>("bwd sum3 residual 128 a row", d, 0, gainWant, dxWant);
            backward_variant<256, 3, true, false>("bwd sum3 residual 256 a row", d, 0, gainWant, dxWant);
            backward_variant<256, 3, true, true>("bwd sum3 residual 256 a row, prefetch", d, 0, gainWant, dxWant);
            backward_variant<512, 3, true, true>("bwd sum3 residual 512 a row, prefetch", d, 0, gainWant, dxWant);
        }
    }
    // a plain copy of the forward's bytes, for the device's reach
    report("memcpy 2 x 134 MB (read + write)", time_ms([&] {
               CHECK_CUDA(cudaMemcpyAsync(d.y, d.x, 2 * n, cudaMemcpyDeviceToDevice));
           }),
           2.0 * 2 * n);
    return 0;
}
