// Random FP8 E4M3 codes with exponents 4..10 (magnitudes 2^-3..2^3) and random signs: no NaN, realistic power. Shared
// by the cuBLASLt benchmark programs (cublaslt_algos.cu, cublaslt_search.cu).
#pragma once
#include <cstdint>

__global__ void fill_fp8(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    uint32_t exponent = 4 + h % 7, mantissa = (h >> 8) & 7, sign = (h >> 12) & 1;
    p[i] = (uint8_t)(sign << 7 | exponent << 3 | mantissa);
  }
}
