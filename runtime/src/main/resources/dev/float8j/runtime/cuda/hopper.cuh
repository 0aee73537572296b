// Hopper (sm_90a) building blocks shared by the kernels that use its tensor memory accelerator (TMA), mbarriers and
// wgmma: attention_sm90.cu and gemm_sm90.cu. Only files compiled for sm_90a may include it (KernelModule).
#pragma once
#include "common.cuh"

typedef unsigned long long u64;

// Makes this thread's shared-memory writes (cp.async, st.shared) visible to wgmma, which reads through the async
// proxy; a barrier after it then covers every thread's.
__device__ __forceinline__ void fence_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Shared-memory matrix descriptors (128-byte swizzle). K-major: 8-row groups 1024 bytes apart, no leading offset
// (K stays within a row). MN-major: 8-row (K) groups 1024 bytes apart, panels of 64 M/N values panelBytes apart.
__device__ __forceinline__ u64 desc_k(u32 addr) {
    return (u64) ((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((u64) (1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ u64 desc_mn(u32 addr, u32 panelBytes) {
#ifdef MN_SWAP
    return (u64) ((addr & 0x3FFFF) >> 4) | ((u64) (1024 >> 4) << 16) | ((u64) (panelBytes >> 4) << 32) | (1ull << 62);
#else
    return (u64) ((addr & 0x3FFFF) >> 4) | ((u64) (panelBytes >> 4) << 16) | ((u64) (1024 >> 4) << 32) | (1ull << 62);
#endif
}

// x, as a value the compiler cannot see through: descriptors built from it inside a loop are rebuilt there (a few
// integer adds) instead of being hoisted, where each would hold two registers the accumulators need.
__device__ __forceinline__ u32 opaque(u32 x) {
    u32 y;
    asm volatile("mov.b32 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }

// Ties registers an asynchronous wgmma reads or writes to this point of the program, after its wait: the compiler
// may then neither read an accumulator earlier nor reuse an operand's register while the instruction runs.
template <int N>
__device__ __forceinline__ void hold(float (&x)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(x[i])::"memory");
}

template <int N>
__device__ __forceinline__ void hold(u32 (&x)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+r"(x[i][0]), "+r"(x[i][1]), "+r"(x[i][2]), "+r"(x[i][3])::"memory");
}

#define ACC8(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
        "+f"(d[i + 6]), "+f"(d[i + 7])
#define ACC32(d) ACC8(d, 0), ACC8(d, 8), ACC8(d, 16), ACC8(d, 24)
#define ACC64(d) ACC32(d), ACC8(d, 32), ACC8(d, 40), ACC8(d, 48), ACC8(d, 56)
#define LIST32 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define LIST64 LIST32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"

// The start of dynamic shared memory rounded up to 1024 bytes (the swizzle's period); launches ask for 1024 more.
__device__ __forceinline__ u32 smem_base1024(const void* smem) {
    return (shared_address(smem) + 1023u) & ~1023u;
}

// A CUtensorMap's bytes: NVRTC has no CUDA headers.
struct __align__(64) TensorMap {
    u64 opaque[16];
};

__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

// Waits until the phase of the given parity has completed (a fresh barrier counts parity 1 as completed).
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    u32 done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}

__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void mbar_arrive_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

// Copies the box at (column, row, batch) of a rank-3 tensor map into shared memory; its bytes count towards bar's
// expected transactions.
__device__ __forceinline__ void tma_load(u32 dst, const TensorMap& map, int col, int row, int batch, u32 bar) {
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes "
                 "[%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst), "l"(&map), "r"(col), "r"(row), "r"(batch), "r"(bar)
                 : "memory");
}

// The same for a rank-2 tensor map, the box at (column, row).
__device__ __forceinline__ void tma_load_2d(u32 dst, const TensorMap& map, int col, int row, u32 bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes "
                 "[%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst), "l"(&map), "r"(col), "r"(row), "r"(bar)
                 : "memory");
}

// Copies bytes (a multiple of 16) from global src to shared dst (both 16-byte aligned) without a tensor map; they count
// towards bar's expected transactions.
__device__ __forceinline__ void bulk_load(u32 dst, const void* src, u32 bytes, u32 bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
                 ::"r"(dst), "l"(src), "r"(bytes), "r"(bar)
                 : "memory");
}
