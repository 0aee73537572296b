// Definitions shared by float8j's kernel files (each file is one op family, compiled by NVRTC with this header;
// no CUDA header is needed).
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

// Element types of high-precision tensors, as the Java side numbers them (DType F32 and BF16).
#define DT_F32 0
#define DT_BF16 1

// F32 to BF16, rounding to nearest even; NaN stays a quiet NaN.
__device__ __forceinline__ u16 bf16_from_float(float x) {
    u32 bits = __float_as_uint(x);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (u16) ((bits >> 16) | 0x40u);
    return (u16) ((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// Element i of an F32 or BF16 array, as F32.
__device__ __forceinline__ float load_elem(const void* p, long i, int dtype) {
    return dtype == DT_F32 ? ((const float*) p)[i] : __uint_as_float((u32) ((const u16*) p)[i] << 16);
}

// Stores x as element i of an F32 or BF16 array (BF16 rounds to nearest even).
__device__ __forceinline__ void store_elem(void* p, long i, int dtype, float x) {
    if (dtype == DT_F32) {
        ((float*) p)[i] = x;
    } else {
        ((u16*) p)[i] = bf16_from_float(x);
    }
}

// Elements 4q..4q+3 of an F32 or BF16 array in one 16- or 8-byte load (the array 16-byte aligned; see aligned16).
// One wide load per thread moves more bytes per instruction than four narrow ones: the elementwise kernels went from
// 1.5-2.2 TB/s towards the memory's speed.
struct alignas(16) F32x4 { float x, y, z, w; };
struct alignas(8) BF16x4 { u32 lo, hi; };

// The four BF16 values of w as floats (exact: a BF16 value is the top half of the F32 one).
__device__ __forceinline__ void bf16x4_to_floats(BF16x4 w, float* v) {
    v[0] = __uint_as_float(w.lo << 16); v[1] = __uint_as_float(w.lo & 0xFFFF0000u);
    v[2] = __uint_as_float(w.hi << 16); v[3] = __uint_as_float(w.hi & 0xFFFF0000u);
}

// A quad as loaded, before conversion: four F32 values' bits, or four BF16 values in w[0] and w[1]. Loading every quad
// a thread needs before converting any keeps all the loads in flight at once (lines.cuh).
struct RawQuad { u32 w[4]; };

__device__ __forceinline__ RawQuad load_raw4(const void* p, long q, int dtype) {
    RawQuad r;
    if (dtype == DT_F32) {
        F32x4 w = ((const F32x4*) p)[q];
        r.w[0] = __float_as_uint(w.x); r.w[1] = __float_as_uint(w.y);
        r.w[2] = __float_as_uint(w.z); r.w[3] = __float_as_uint(w.w);
    } else {
        BF16x4 w = ((const BF16x4*) p)[q];
        r.w[0] = w.lo; r.w[1] = w.hi; r.w[2] = 0; r.w[3] = 0;
    }
    return r;
}

// The four values of a raw quad of dtype, as floats.
__device__ __forceinline__ void raw4_to_floats(const RawQuad& r, int dtype, float* v) {
    if (dtype == DT_F32) {
        for (int e = 0; e < 4; e++) v[e] = __uint_as_float(r.w[e]);
    } else {
        bf16x4_to_floats(BF16x4{r.w[0], r.w[1]}, v);
    }
}

// Not written as raw4_to_floats(load_raw4(...)): that form cost rms_norm_backward spills at its 80-register bound and
// grew the grid-stride swiglu kernels' registers.
__device__ __forceinline__ void load4(const void* p, long q, int dtype, float* v) {
    if (dtype == DT_F32) {
        F32x4 w = ((const F32x4*) p)[q];
        v[0] = w.x; v[1] = w.y; v[2] = w.z; v[3] = w.w;
    } else {
        bf16x4_to_floats(((const BF16x4*) p)[q], v);
    }
}

// Stores v as elements 4q..4q+3 of an F32 or BF16 array (16-byte aligned), BF16 rounded to nearest even.
__device__ __forceinline__ void store4(void* p, long q, int dtype, const float* v) {
    if (dtype == DT_F32) {
        F32x4 w = {v[0], v[1], v[2], v[3]};
        ((F32x4*) p)[q] = w;
    } else {
        BF16x4 w = {(u32) bf16_from_float(v[0]) | (u32) bf16_from_float(v[1]) << 16,
                    (u32) bf16_from_float(v[2]) | (u32) bf16_from_float(v[3]) << 16};
        ((BF16x4*) p)[q] = w;
    }
}

// Whether every pointer given is 16-byte aligned, so that load4 and store4 may be used on all of them. Device
// buffers are; a view at an odd offset is not, and then a kernel takes its element-by-element loop.
__device__ __forceinline__ bool aligned16(const void* a, const void* b = 0, const void* c = 0, const void* d = 0,
                                          const void* e = 0) {
    return (((unsigned long long) a | (unsigned long long) b | (unsigned long long) c | (unsigned long long) d
             | (unsigned long long) e) & 15) == 0;
}

// The shared-memory address of p (a pointer into shared memory), as cp.async takes it.
__device__ __forceinline__ u32 shared_address(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024) with one barrier; every thread gets the result.
// scratch holds 32 floats of shared memory that the call after next may reuse (callers alternate between two), as that
// call's writes come after the next call's barrier, which every thread reaches only once it has read this call's sums.
__device__ __forceinline__ float block_sum_one_barrier(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    int warps = blockDim.x >> 5;
    v = (int) (threadIdx.x & 31) < warps ? scratch[threadIdx.x & 31] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

// As block_sum_one_barrier, with a barrier first, so that the same scratch may be reused at once: the same additions in
// the same order, so the same bits.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    __syncthreads();
    return block_sum_one_barrier(v, scratch);
}

// The absolute maximum of a tensor as its producer writes it, for the tensorwise FP8 cast that reads it next (which
// then skips its own pass over the tensor): float bits, which order as unsigned integers with NaN and Inf above every
// finite value, so one atomicMax keeps the largest. A producer takes the maximum of abs_bits over the F32 values it
// computes and rounds only that to its output dtype (block_amax): rounding is monotone, so the rounded maximum is the
// maximum of the rounded values, and each element costs two integer operations instead of a second rounding.
__device__ __forceinline__ u32 abs_bits(float x) {
    return __float_as_uint(x) & 0x7FFFFFFFu;
}

// x as dtype holds it (BF16 rounded to nearest even).
__device__ __forceinline__ float as_stored(float x, int dtype) {
    return dtype == DT_F32 ? x : __uint_as_float((u32) bf16_from_float(x) << 16);
}

// The maximum of m over the warp; every lane gets it.
__device__ __forceinline__ u32 warp_max(u32 m) {
    for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
    return m;
}

// m, the bits of a maximum of |F32 values| (abs_bits), as the bits of that maximum rounded to dtype: the maximum of the
// values as stored, which is what the casts read.
__device__ __forceinline__ u32 stored_max(u32 m, int dtype) {
    return abs_bits(as_stored(__uint_as_float(m), dtype));
}

// *amax = max(*amax, m over the warp rounded to BF16), one atomic per warp; amax null: nothing. Every lane of the warp
// calls it. For kernels whose warps cannot meet at a block barrier (the warp-specialized attention's consumers).
__device__ __forceinline__ void warp_amax(u32 m, u32* amax) {
    if (amax == nullptr) return;
    m = warp_max(m);
    if ((threadIdx.x & 31) == 0) atomicMax(amax, stored_max(m, DT_BF16));
}

// *amax = max(*amax, m over the block rounded to dtype), one atomic per block; amax null: nothing. Every thread of the
// block calls it (it holds barriers), with blockDim.x a multiple of 32; scratch holds 32 words of shared memory.
__device__ __forceinline__ void block_amax(u32 m, int dtype, u32* amax, u32* scratch) {
    if (amax == nullptr) return;  // the same for the whole block
    m = warp_max(m);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) m = max(m, scratch[w]);
        atomicMax(amax, stored_max(m, dtype));
    }
}

// Writes sizeof(T) into out[i++] (the start of a struct's layout report; see KernelModule.java).
#define LAYOUT_SIZE(T) out[i++] = (long long) sizeof(T)
// the address of f in a T at address 0: NVRTC has neither offsetof nor __builtin_offsetof
#define LAYOUT_FIELD(T, f) out[i++] = (long long) &(((T*) 0)->f)
