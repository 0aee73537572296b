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

// Launches of one kernel at m x k x n; returns the mean milliseconds of `launches` after two not timed (0: one
// launch, untimed, for a profiler).
static double run(Kernel kernel, int m, int k, int n, int launches, int multiprocessors) {
    const int kBlocks = (k + 127) / 128;
    unsigned char* a = device_codes((size_t) m * k);
    unsigned char* b = device_codes((size_t) n * k);
    // 1x128 scales [kb][rows]; B's 128x128 blocks [n / 128][kBlocks rounded up to 4]
    const int ldBlocks = (kBlocks + 3) / 4 * 4;
    float* scaleA = device_scales((size_t) kBlocks * m);
    float* scaleB = kernel == BLOCKS ? device_scales((size_t) (n + 127) / 128 * ldBlocks)
                                     : device_scales((size_t) kBlocks * n);
    void* d;
    CHECK_CUDA(cudaMalloc(&d, (size_t) m * n * 2));
    const int bn = kernel == TENSORWISE ? GEMM_BN : BLOCK_GEMM_BN;
    const TensorMap aMap = codes_map(a, m, k, k, GEMM_BM), bMap = codes_map(b, n, k, k, bn);
    const int tiles = (m + GEMM_BM - 1) / GEMM_BM * ((n + bn - 1) / bn);
    const int grid = tiles < multiprocessors ? tiles : multiprocessors;
    const int smem = shared_bytes(kernel);
    auto launch = [&]() {
        if (kernel == TENSORWISE) {
            gemm_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, scaleA, 0, scaleB, 0, d, DT_BF16, m, n, k);
        } else if (kernel == BLOCKS) {
            gemm_block_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, scaleA, 0, m, scaleB, ldBlocks, d, DT_BF16,
                                                               m, n, k);
        } else {
            gemm_block_tiles_e4m3_sm90<<<grid, GEMM_THREADS, smem>>>(aMap, bMap, scaleA, 0, m, scaleB, n, d, DT_BF16,
                                                                     m, n, k);
        }
        CHECK_CUDA(cudaGetLastError());
    };
    double ms = 0.0;
    if (launches == 0) {
        launch();
        CHECK_CUDA(cudaDeviceSynchronize());
    } else {
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
        ms = total / launches;
        CHECK_CUDA(cudaEventDestroy(start));
        CHECK_CUDA(cudaEventDestroy(stop));
    }
    for (void* p : {(void*) a, (void*) b, (void*) scaleA, (void*) scaleB, d}) CHECK_CUDA(cudaFree(p));
    return ms;
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
    const int shapes[][3] = {{16384, 8192, 8192}, {8192, 16384, 8192}};
    if (profile) {
        for (Kernel kernel : {TENSORWISE, BLOCKS, TILES}) run(kernel, shapes[0][0], shapes[0][1], shapes[0][2], 0, multiprocessors);
        return 0;
    }
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    printf("# %s, %d multiprocessors; promotion: %s\n", prop.name, multiprocessors, PROMOTION_NAME);
    printf("kernel,promotion,m,k,n,ms,tflops\n");
    for (int round = 0; round < 2; round++) {
        for (const auto& s : shapes) {
            for (Kernel kernel : {TENSORWISE, BLOCKS, TILES}) {
                const double ms = run(kernel, s[0], s[1], s[2], 10, multiprocessors);
                printf("%s,%s,%d,%d,%d,%.4f,%.0f\n", NAMES[kernel], kernel == TENSORWISE ? "epilogue" : PROMOTION_NAME,
                       s[0], s[1], s[2], ms, 2.0 * s[0] * s[1] * s[2] / ms / 1e9);
            }
        }
    }
    return 0;
}
