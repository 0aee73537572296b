// Helpers of the two attention kernel files (attention.cu, attention_sm90.cu): asynchronous copies into shared
// memory, BF16 packing, the softmax's exp2 and dQ's atomic adds.
#pragma once

#include "common.cuh"

#define NEG_INF __int_as_float(0xFF800000)
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// 16-byte asynchronous copy global -> shared; when !valid the destination is zero-filled (src not read).
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_async4(u32 dst, const void* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Atomic p[0] += x, p[1] += y: one 8-byte vector reduction on sm_90 (p 8-byte aligned), two scalar ones before.
__device__ __forceinline__ void red_add2(float* p, float x, float y) {
#if __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(x), "f"(y) : "memory");
#else
    atomicAdd(p, x);
    atomicAdd(p + 1, y);
#endif
}

// Two floats to a BF16 pair (round to nearest even), lo in the low half.
__device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// 2^x with denormal results flushed to zero: one MUFU.EX2, where exp2f adds a range test and two multiplies to
// keep denormals. The softmax weights passed through it are at most about 1 and are summed with the row's largest
// (about 1), so a weight below 2^-126 is far beneath what those F32 sums resolve.
__device__ __forceinline__ float exp2_ftz(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
