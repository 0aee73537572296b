// What the kernel benchmark programs without Java (attention_kernels.cu, norm_kernels.cu) share on the host: a CUDA
// error check, BF16 conversions and a fixed sequence of random numbers.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>

#define CHECK_CUDA(x)                                                                                            \
    do {                                                                                                         \
        cudaError_t err_ = (x);                                                                                  \
        if (err_ != cudaSuccess) {                                                                               \
            printf("CUDA error %s at line %d: %s\n", #x, __LINE__, cudaGetErrorString(err_));                    \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

// F32 to BF16 bits, rounding to nearest even (the inputs here are finite).
static unsigned short to_bf16(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return (unsigned short) (u >> 16);
}

static float from_bf16(unsigned short b) {
    unsigned u = (unsigned) b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

// Uniform in [0, 1), from a fixed xorshift sequence: every run draws the same data.
static unsigned long long rng = 88172645463325252ull;
static double random_unit() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}
