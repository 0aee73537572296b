// Checks and times attention_sm90.cu's kernels on their own, without Java: compiled by nvcc on a Hopper host by
// benchmarks/attention-kernels.sh, which copies the kernel file and its headers beside this one.
//
// Check: the forward (out, lse) and the backward (dq, dk, dv) against a double-precision reference at three small
// shapes (GQA, sequences that are no multiple of the tiles). The backward is given the delta the reference computes
// from the forward's BF16 output, as CudaAttention's delta kernel would; dq is read from the F32 accumulator. Outputs
// start as NaN, so that an element a kernel never writes fails.
// Time: the forward and the backward kernel (with the accumulator's memset) at B4 S4096, 32/8 heads, D128, ten
// launches each, two rounds.
// Usage: attention_kernels [check | profile]: "check" stops after the check (for compute-sanitizer); "profile" runs
// one launch of each kernel at the timing shape and nothing else (for Nsight Compute; pick one with -k).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "attention_sm90.cu"
#include "kernel_bench.cuh"
#include "tensor_map.cuh"

static const int D = HEAD_DIM;

// The kernels' shared memory, as CudaAttention asks for it.
static int forward_smem() { return WS_ROWS * 256 + 2 * WS_STAGES * WS_KEYS * 256 + 8 * (1 + 4 * WS_STAGES) + 1024; }

static int backward_smem() {
    return 2 * BWD_KEYS * 256 + BWS_STAGES * 2 * BWD_QUERIES * 256 + 2 * BWD_KEYS * BWD_QUERIES * 2
           + 2 * BWS_DQ_BYTES + BWS_STAGES * 2 * BWD_QUERIES * 4 + 8 * (1 + 2 * BWS_STAGES) + 1024;
}

// Roughly normal values (sum of 12 uniforms).
static float normal() {
    double s = 0;
    for (int i = 0; i < 12; i++) s += random_unit();
    return (float) (s - 6);
}

struct Shape {
    int batch, seq, heads, kvHeads;
    size_t qElems() const { return (size_t) batch * seq * heads * D; }
    size_t kvElems() const { return (size_t) batch * seq * kvHeads * D; }
    size_t rows() const { return (size_t) batch * heads * seq; }  // lse and delta
};

struct DeviceArrays {
    u16 *q, *k, *v, *out, *dOut, *dk, *dv;
    float *lse, *delta, *dqAccum;

    explicit DeviceArrays(const Shape& s) {
        CHECK_CUDA(cudaMalloc(&q, s.qElems() * 2));
        CHECK_CUDA(cudaMalloc(&out, s.qElems() * 2));
        CHECK_CUDA(cudaMalloc(&dOut, s.qElems() * 2));
        CHECK_CUDA(cudaMalloc(&k, s.kvElems() * 2));
        CHECK_CUDA(cudaMalloc(&v, s.kvElems() * 2));
        CHECK_CUDA(cudaMalloc(&dk, s.kvElems() * 2));
        CHECK_CUDA(cudaMalloc(&dv, s.kvElems() * 2));
        CHECK_CUDA(cudaMalloc(&lse, s.rows() * 4));
        CHECK_CUDA(cudaMalloc(&delta, s.rows() * 4));
        CHECK_CUDA(cudaMalloc(&dqAccum, s.qElems() * 4));
    }
    ~DeviceArrays() {
        for (void* p : {(void*) q, (void*) out, (void*) dOut, (void*) k, (void*) v, (void*) dk, (void*) dv,
                        (void*) lse, (void*) delta, (void*) dqAccum}) {
            cudaFree(p);
        }
    }
};

// The kernels' tensor map of a [batch][seq][heads][128] tensor (see their comments): BF16 with boxes
// of 64 x 64, or F32 (attention_backward_sm90_ws_d128's dqAccum) with boxes of 32 columns x 64 rows.
static TensorMap tensor_map(const void* base, const Shape& s, int heads, bool f32 = false) {
    const cuuint64_t dims[3] = {(cuuint64_t) heads * D, (cuuint64_t) s.seq, (cuuint64_t) s.batch};
    const cuuint64_t bytes = f32 ? 4 : 2;
    const cuuint64_t strides[2] = {(cuuint64_t) heads * D * bytes, (cuuint64_t) s.seq * heads * D * bytes};
    const cuuint32_t box[3] = {f32 ? 32u : 64u, 64, 1};
    return encode_tensor_map(f32 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, base, dims,
                             strides, box);
}

// The grids' bands (banded_block), as CudaAttention's DEFAULT_BANDS: 8 heads forward, 4 kv heads backward.
static const int FORWARD_BAND = 8, BACKWARD_BAND = 4;

static void forward(const DeviceArrays& a, const Shape& s) {
    const float scaleLog2 = (float) (1.0 / sqrt((double) D) / log(2.0));
    const int grid = s.batch * s.heads * ((s.seq + WS_ROWS - 1) / WS_ROWS);
    attention_forward_sm90_ws_d128<<<grid, WS_THREADS, forward_smem()>>>(
            tensor_map(a.q, s, s.heads), tensor_map(a.k, s, s.kvHeads), tensor_map(a.v, s, s.kvHeads), a.out, a.lse,
            s.seq, s.heads, s.kvHeads, scaleLog2, s.batch, FORWARD_BAND, nullptr);
}

static void backward(const DeviceArrays& a, const Shape& s) {
    const int grid = s.batch * s.kvHeads * ((s.seq + BWD_KEYS - 1) / BWD_KEYS);
    attention_backward_sm90_ws_d128<<<grid, BWS_THREADS, backward_smem()>>>(
            tensor_map(a.q, s, s.heads), tensor_map(a.k, s, s.kvHeads), tensor_map(a.v, s, s.kvHeads),
            tensor_map(a.dOut, s, s.heads), a.lse, a.delta, tensor_map(a.dqAccum, s, s.heads, true), a.dk, a.dv,
            s.seq, s.heads, s.kvHeads, (float) (1.0 / sqrt((double) D)), s.batch, BACKWARD_BAND);
}

// Largest |got - want| over n values, and where; a NaN (an element no kernel wrote) counts as infinite.
struct Error {
    double max = 0, wantMax = 0;
    size_t at = 0;
    void add(size_t i, double got, double want) {
        wantMax = fmax(wantMax, fabs(want));
        const double e = std::isnan(got) ? INFINITY : fabs(got - want);
        if (e > max) {
            max = e;
            at = i;
        }
    }
};

static bool check(const Shape& s) {
    std::vector<u16> q(s.qElems()), k(s.kvElems()), v(s.kvElems()), dOut(s.qElems());
    for (auto* x : {&q, &k, &v, &dOut}) {
        for (u16& e : *x) e = to_bf16(normal());
    }
    DeviceArrays a(s);
    CHECK_CUDA(cudaMemcpy(a.q, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(a.k, k.data(), k.size() * 2, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(a.v, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(a.dOut, dOut.data(), dOut.size() * 2, cudaMemcpyHostToDevice));
    // out and lse start as NaN, so that a row the kernel leaves unwritten fails.
    std::vector<u16> out(s.qElems());
    std::vector<float> lse(s.rows());
    CHECK_CUDA(cudaMemset(a.out, 0xFF, s.qElems() * 2));
    CHECK_CUDA(cudaMemset(a.lse, 0xFF, s.rows() * 4));
    forward(a, s);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK_CUDA(cudaMemcpy(out.data(), a.out, out.size() * 2, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(lse.data(), a.lse, lse.size() * 4, cudaMemcpyDeviceToHost));

    // The reference, row by row: softmax of the causal scores, out, lse, then that row's share of dq, dk, dv.
    const double scale = 1.0 / sqrt((double) D);
    const int group = s.heads / s.kvHeads;
    const size_t ldq = (size_t) s.heads * D, ldk = (size_t) s.kvHeads * D;
    std::vector<double> dq(s.qElems(), 0), dk(s.kvElems(), 0), dv(s.kvElems(), 0), p(s.seq);
    std::vector<float> delta(s.rows());
    Error outError, lseError;
    for (int b = 0; b < s.batch; b++) {
        for (int h = 0; h < s.heads; h++) {
            const size_t kvCol = (size_t) (h / group) * D;
            for (int i = 0; i < s.seq; i++) {
                const size_t qRow = ((size_t) b * s.seq + i) * ldq + (size_t) h * D;
                double max = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    const size_t kRow = ((size_t) b * s.seq + j) * ldk + kvCol;
                    double dot = 0;
                    for (int c = 0; c < D; c++) dot += (double) from_bf16(q[qRow + c]) * from_bf16(k[kRow + c]);
                    p[j] = dot * scale;
                    max = fmax(max, p[j]);
                }
                for (int j = 0; j <= i; j++) sum += (p[j] = exp(p[j] - max));
                for (int j = 0; j <= i; j++) p[j] /= sum;
                const size_t statRow = ((size_t) b * s.heads + h) * s.seq + i;
                lseError.add(statRow, lse[statRow], max + log(sum));
                double rowDelta = 0;
                for (int c = 0; c < D; c++) {
                    double o = 0;
                    for (int j = 0; j <= i; j++) o += p[j] * from_bf16(v[((size_t) b * s.seq + j) * ldk + kvCol + c]);
                    outError.add(qRow + c, from_bf16(out[qRow + c]), o);
                    rowDelta += (double) from_bf16(dOut[qRow + c]) * from_bf16(out[qRow + c]);
                }
                delta[statRow] = (float) rowDelta;
                for (int j = 0; j <= i; j++) {
                    const size_t kRow = ((size_t) b * s.seq + j) * ldk + kvCol;
                    double dp = 0;
                    for (int c = 0; c < D; c++) dp += (double) from_bf16(dOut[qRow + c]) * from_bf16(v[kRow + c]);
                    const double ds = p[j] * (dp - rowDelta);
                    for (int c = 0; c < D; c++) {
                        dq[qRow + c] += ds * scale * from_bf16(k[kRow + c]);
                        dk[kRow + c] += ds * scale * from_bf16(q[qRow + c]);
                        dv[kRow + c] += p[j] * from_bf16(dOut[qRow + c]);
                    }
                }
            }
        }
    }

    CHECK_CUDA(cudaMemcpy(a.delta, delta.data(), delta.size() * 4, cudaMemcpyHostToDevice));
    // The backward from a zeroed accumulator and NaN dk, dv (a key row it leaves unwritten fails).
    CHECK_CUDA(cudaMemset(a.dqAccum, 0, s.qElems() * 4));
    CHECK_CUDA(cudaMemset(a.dk, 0xFF, s.kvElems() * 2));
    CHECK_CUDA(cudaMemset(a.dv, 0xFF, s.kvElems() * 2));
    backward(a, s);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<float> dqAccum(s.qElems());
    std::vector<u16> dkGot(s.kvElems()), dvGot(s.kvElems());
    CHECK_CUDA(cudaMemcpy(dqAccum.data(), a.dqAccum, dqAccum.size() * 4, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(dkGot.data(), a.dk, dkGot.size() * 2, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(dvGot.data(), a.dv, dvGot.size() * 2, cudaMemcpyDeviceToHost));
    Error dqError, dkError, dvError;
    for (size_t i = 0; i < dq.size(); i++) dqError.add(i, dqAccum[i] * scale, dq[i]);
    for (size_t i = 0; i < dk.size(); i++) {
        dkError.add(i, from_bf16(dkGot[i]), dk[i]);
        dvError.add(i, from_bf16(dvGot[i]), dv[i]);
    }

    // BF16 rounding of P and of the results allows about 1% of the largest value; a layout or masking error is far
    // larger.
    const bool pass = outError.max < 0.03 && lseError.max < 1e-3 && dqError.max < 0.02 * dqError.wantMax
                      && dkError.max < 0.02 * dkError.wantMax && dvError.max < 0.02 * dvError.wantMax;
    printf("B%d S%d %d/%d heads: out %.3g, lse %.3g; dq %.3g, dk %.3g, dv %.3g of max |ref| %.3g, %.3g, %.3g: %s\n",
           s.batch, s.seq, s.heads, s.kvHeads, outError.max, lseError.max, dqError.max, dkError.max, dvError.max,
           dqError.wantMax, dkError.wantMax, dvError.wantMax, pass ? "PASS" : "FAIL");
    return pass;
}

// Ten launches of each kernel at the Llama shape, with inputs that give every score the same value (the timing does
// not depend on them).
static void time_kernels(bool profileOnly) {
    const Shape s{4, 4096, 32, 8};
    DeviceArrays a(s);
    CHECK_CUDA(cudaMemset(a.q, 0x3c, s.qElems() * 2));
    CHECK_CUDA(cudaMemset(a.k, 0x3c, s.kvElems() * 2));
    CHECK_CUDA(cudaMemset(a.v, 0x3c, s.kvElems() * 2));
    CHECK_CUDA(cudaMemset(a.dOut, 0x3c, s.qElems() * 2));
    CHECK_CUDA(cudaMemset(a.delta, 0, s.rows() * 4));
    CHECK_CUDA(cudaMemset(a.dqAccum, 0, s.qElems() * 4));
    forward(a, s);
    backward(a, s);
    CHECK_CUDA(cudaDeviceSynchronize());
    if (profileOnly) return;
    cudaEvent_t start, end;
    cudaEventCreate(&start);
    cudaEventCreate(&end);
    const double flops = 4.0 * s.batch * s.heads * (double) s.seq * s.seq * D / 2;  // causal: half the pairs
    for (int round = 0; round < 2; round++) {
        float ms;
        cudaEventRecord(start);
        for (int i = 0; i < 10; i++) forward(a, s);
        cudaEventRecord(end);
        CHECK_CUDA(cudaEventSynchronize(end));
        cudaEventElapsedTime(&ms, start, end);
        printf("forward %.3f ms, %.0f TFLOP/s\n", ms / 10, flops / (ms / 10) / 1e9);
        cudaEventRecord(start);
        for (int i = 0; i < 10; i++) {
            cudaMemsetAsync(a.dqAccum, 0, s.qElems() * 4);
            backward(a, s);
        }
        cudaEventRecord(end);
        CHECK_CUDA(cudaEventSynchronize(end));
        cudaEventElapsedTime(&ms, start, end);
        printf("backward %.3f ms, %.0f TFLOP/s\n", ms / 10, 2.5 * flops / (ms / 10) / 1e9);  // five products to two
        CHECK_CUDA(cudaGetLastError());
    }
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
    CHECK_CUDA(cudaFuncSetAttribute(attention_forward_sm90_ws_d128, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    forward_smem()));
    CHECK_CUDA(cudaFuncSetAttribute(attention_backward_sm90_ws_d128, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    backward_smem()));
    if (strcmp(mode, "profile") == 0) {
        time_kernels(true);
        return 0;
    }
    bool pass = check(Shape{1, 256, 2, 1});
    pass &= check(Shape{2, 333, 4, 2});
    pass &= check(Shape{1, 700, 2, 2});
    printf(pass ? "check: PASS\n" : "check: FAIL\n");
    if (strcmp(mode, "check") != 0) time_kernels(false);
    return pass ? 0 : 1;
}
