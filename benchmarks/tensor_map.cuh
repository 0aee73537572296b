// What the Hopper kernel programs (attention_kernels.cu, gemm_block_kernels.cu) share on the host: a TMA descriptor in
// the TensorMap their kernels take (hopper.cuh, included first), made by the driver's cuTensorMapEncodeTiled reached
// through the runtime, so the programs need no -lcuda. Every map here has unit element strides, the 128-byte swizzle
// and 256-byte L2 promotion, as CudaDriver.encodeTensorMap makes them.
#pragma once
#include <cuda.h>  // CUtensorMap and its enums only
#include <cuda_runtime.h>

#include "kernel_bench.cuh"

// A rank-`rank` map (at most 3) of `type` elements at base: dims and box innermost first, strides (bytes) of every
// dimension but the innermost.
static TensorMap encode_tensor_map(CUtensorMapDataType type, cuuint32_t rank, const void* base, const cuuint64_t* dims,
                                   const cuuint64_t* strides, const cuuint32_t* box) {
    typedef CUresult (*Encode)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                               const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                               CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
    static Encode encode = nullptr;
    if (!encode) {
        cudaDriverEntryPointQueryResult found;
        CHECK_CUDA(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void**) &encode, 12000,
                                                    cudaEnableDefault, &found));
        if (found != cudaDriverEntryPointSuccess) {
            printf("cuTensorMapEncodeTiled not found\n");
            exit(1);
        }
    }
    const cuuint32_t elementStrides[3] = {1, 1, 1};
    CUtensorMap map;
    const CUresult r = encode(&map, type, rank, (void*) base, dims, strides, box, elementStrides,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        printf("cuTensorMapEncodeTiled failed: %d\n", (int) r);
        exit(1);
    }
    static_assert(sizeof(TensorMap) == sizeof(CUtensorMap), "TensorMap holds a CUtensorMap");
    TensorMap t;
    memcpy(&t, &map, sizeof t);
    return t;
}
