// Times gemm_sm90.cu's kernels on their own, without Java: compiled by nvcc on a Hopper host by
// benchmarks/gemm-block-kernels.sh, which copies the kernel file and its headers beside this one. The script builds it
// twice: as the kernels are, and with the block-scaled kernels' promotion reduced to adding each K block's products
// unscaled (PROMOTION=add). The block-scaled kernels run 25-35% below cuBLASLt's (benchmarks/results/gpu.md,
// twenty-second session); the two builds side by side tell how much of that the promotion costs and how much the
// 128 x 128 tile and its pipeline do. The tensorwise kernel (a 128 x 256 tile, its scales in the epilogue) runs
// beside them for reference.
//
// The operands are random E4M3 codes with scales near 1; nothing is checked here (HopperFp8GemmTest checks the
// kernels against the reference and cuBLASLt through Java). D is BF16.
// Prints CSV: kernel,promotion,m,k,n,ms,tflops (ten launches each after two, two rounds).
// Usage: gemm_block_kernels [profile]: "profile" runs one launch of each kernel at the first shape and nothing else
// (for Nsight Compute).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "gemm_sm90.cu"
#include "kernel_bench.cuh"
#include "tensor_map.cuh"

#ifndef PROMOTION_NAME
#define PROMOTION_NAME "scaled"
#endif

// The kernels' tensor map of K-contiguous codes [rows][ld]: rank 2, dims {K, rows}, boxes of GEMM_BK codes by boxRows
// rows, 128-byte swizzle, as HopperFp8Gemm.codesMap makes it.
static TensorMap codes_map(const void* base, int rows, int k, int ld, int boxRows) {
    const cuuint64_t dims[2] = {(cuuint64_t) k, (cuuint64_t) rows};
    const cuuint64_t strides[1] = {(cuuint64_t) ld};
    const cuuint32_t box[2] = {GEMM_BK, (cuuint32_t) boxRows};
    return encode_tensor_map(CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, base, dims, strides, box);
}

// Random finite E4M3 codes (every byte but 0x7F and 0xFF, the NaNs) on the device.
static unsigned char* device_codes(size_t n) {
    std::vector<unsigned char> h(n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) (random_unit() * 256);
        h[i] = (c & 0x7F) == 0x7F ? c - 1 : c;
    }
    unsigned char* d;
    CHECK_CUDA(cudaMalloc(&d, n));
    CHECK_CUDA(cudaMemcpy(d, h.data(), n, cudaMemcpyHostToDevice));
    return d;
}

// n inverse scales in [0.5, 1.5) on the device.
static float* device_scales(size_t n) {
    std::vector<float> h(n);
    for (size_t i = 0; i < n; i++) h[i] = (float) (0.5 + random_unit());
    float* d;
    CHECK_CUDA(cudaMalloc(&d, n * sizeof(float)));
    CHECK_CUDA(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

enum Kernel { TENSORWISE, BLOCKS, TILES };
static const char* NAMES[] = {"gemm_e4m3_sm90", "gemm_block_e4m3_sm90", "gemm_block_tiles_e4m3_sm90"};

// The dynamic shared memory each kernel asks for (HopperFp8Gemm.SHARED_BYTES and BLOCK_SCALED_SHARED_BYTES).
static int shared_bytes(Kernel kernel) {
    return kernel == TENSORWISE ? GEMM_STAGES * (GEMM_A_BYTES + GEMM_B_BYTES) + 16 * GEMM_STAGES + 1024
                                : BLOCK_GEMM_STAGES * (GEMM_A_BYTES + BLOCK_GEMM_B_BYTES + BLOCK_GEMM_SCALE_BYTES)
                                          + 16 * BLOCK_GEMM_STAGES + 1024;
}

// One shape's operands on the device, drawn once and shared by every kernel and round: A [m][k] and B [n][k] codes,
// 1x128 scales of A and of B ([kb][rows]), B's 128x128 block scales ([n / 128][kBlocks rounded up to 4]), and D.
struct Operands {
    int m, k, n, ldBlocks;
    unsigned char *a, *b;
    float *scaleA, *scaleBTiles, *scaleBBlocks;
    void* d;
    Operands(int m_, int k_, int n_) : m(m_), k(k_), n(n_) {
        const int kBlocks = (k + 127) / 128;
        ldBlocks = (kBlocks + 3) / 4 * 4;
        a = device_codes((size_t) m * k);
        b = device_codes((size_t) n * k);
        scaleA = device_scales((size_t) kBlocks * m);
        scaleBTiles = device_scales((size_t) kBlocks * n);
        scaleBBlocks = device_scales((size_t) (n + 127) / 128 * ldBlocks);
        CHECK_CUDA(cudaMalloc(&d, (size_t) m * n * 2));
    }
    ~Operands() {
        for (void* p : {(void*) a, (void*) b, (void*) scaleA, (void*) scaleBTiles, (void*) scaleBBlocks, d}) cudaFree(p);
    }
};

// Launches of one kernel on o; returns the mean milliseconds of `launches` after two not timed (0: one launch,
// untimed, for a profiler).
static double run(Kernel kernel, const Operands& o, int launches, int multiprocessors) {
    const int m = o.m, k = o.k, n = o.n;
    const int bn = kernel == TENSORWISE ? GEMM_BN : BLOCK_GEMM_BN;
    const TensorMap aMap = codes_map(o.a, m, k, k, GEMM_BM), bMap = codes_map(o.b, n, k, k, bn);
    const int tiles = (m + GEMM_BM - 1) / GEMM_BM * ((n + bn - 1) / bn);
    const int grid = tiles < multiprocessors ? tiles : multiprocessors;
    const int smem = shared_bytes(kernel);
    auto launch = [&]() {
        if (kernel == TENSORWISE) {
            gemm_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, o.scaleA, 0, o.scaleBTiles, 0, o.d, DT_BF16, m,
                                                         n, k);
        } else if (kernel == BLOCKS) {
            gemm_block_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, o.scaleA, 0, m, o.scaleBBlocks, o.ldBlocks,
                                                               o.d, DT_BF16, m, n, k);
        } else {
            gemm_block_tiles_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, o.scaleA, 0, m, o.scaleBTiles, n, o.d,
                                                                     DT_BF16, m, n, k);
        }
        CHECK_CUDA(cudaGetLastError());
    };
    if (launches == 0) {
        launch();
        CHECK_CUDA(cudaDeviceSynchronize());
        return 0.0;
    }
    for (int i = 0; i < 2; i++) launch();
    cudaEvent_t start, stop;
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    CHECK_CUDA(cudaEventRecord(start));
    for (int i = 0; i < launches; i++) launch();
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float total;
    CHECK_CUDA(cudaEventElapsedTime(&total, start, stop));
    CHECK_CUDA(cudaEventDestroy(start));
    CHECK_CUDA(cudaEventDestroy(stop));
    return total / launches;
}

int main(int argc, char** argv) {
    const bool profile = argc > 1 && strcmp(argv[1], "profile") == 0;
    CHECK_CUDA(cudaFuncSetAttribute(gemm_e4m3_sm90, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    shared_bytes(TENSORWISE)));
    CHECK_CUDA(cudaFuncSetAttribute(gemm_block_e4m3_sm90, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    shared_bytes(BLOCKS)));
    CHECK_CUDA(cudaFuncSetAttribute(gemm_block_tiles_e4m3_sm90, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    shared_bytes(TILES)));
    int multiprocessors;
    CHECK_CUDA(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));
    // the linear step's output gemm (M=16384, K=N=8192) and its grad_weight (m=N, k=M, n=K)
    const Operands output(16384, 8192, 8192);
    if (profile) {
        for (Kernel kernel : {TENSORWISE, BLOCKS, TILES}) run(kernel, output, 0, multiprocessors);
        return 0;
    }
    const Operands gradWeight(8192, 16384, 8192);
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    printf("# %s, %d multiprocessors; promotion: %s\n", prop.name, multiprocessors, PROMOTION_NAME);
    printf("kernel,promotion,m,k,n,ms,tflops\n");
    for (int round = 0; round < 2; round++) {
        for (const Operands* o : {&output, &gradWeight}) {
            for (Kernel kernel : {TENSORWISE, BLOCKS, TILES}) {
                const double ms = run(kernel, *o, 10, multiprocessors);
                printf("%s,%s,%d,%d,%d,%.4f,%.0f\n", NAMES[kernel], kernel == TENSORWISE ? "epilogue" : PROMOTION_NAME,
                       o->m, o->k, o->n, ms, 2.0 * o->m * o->k * o->n / ms / 1e9);
            }
        }
    }
    return 0;
}
