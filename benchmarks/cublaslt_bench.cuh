// What the cuBLASLt benchmark programs (cublaslt_algos.cu, cublaslt_search.cu) share: a CUDA error check, random FP8
// data and the timing of a call.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define CHECK_CUDA(x) do { cudaError_t e = (x); if (e != cudaSuccess) { \
  fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

// Random FP8 E4M3 codes with exponents 4..10 (magnitudes 2^-3..2^3) and random signs: no NaN, realistic power.
__global__ void fill_fp8(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    uint32_t exponent = 4 + h % 7, mantissa = (h >> 8) & 7, sign = (h >> 12) & 1;
    p[i] = (uint8_t)(sign << 7 | exponent << 3 | mantissa);
  }
}

// Mean ms of reps calls of call(), queued back to back on the default stream and timed by events around them; the
// caller warms up first.
template <class Call>
static double mean_ms(Call call, int reps) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start);
  for (int r = 0; r < reps; r++) call();
  cudaEventRecord(stop);
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / reps;
}
