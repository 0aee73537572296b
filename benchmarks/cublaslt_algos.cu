// Times every algorithm cuBLASLt's heuristic offers for the FP8 and BF16 gemms of the Llama benchmark's step
// (4 layers, dim 4096, FFN 14336, 32/8 heads, 4 x 4096 tokens) and the linear benchmark's BF16 step at M=16384,
// K=N=8192, with the epilogues float8j uses: tensorwise and
// rowwise scales, fast accumulation on and off, and an addend C != D read by the epilogue (beta = 1). No Java: the
// question is only what cuBLASLt itself can do at these shapes. Build and run with `benchmarks/cublaslt.sh algos`.
//
// The declarations below are the few cublasLt.h ones this needs (the development machines have no cublasLt.h);
// the enum values are those of cuBLASLt 13.1, as CublasLt.java uses them.
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include "cublaslt_bench.cuh"

extern "C" {
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t *cublasLtMatmulPreference_t;
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
typedef struct {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
} cublasLtMatmulHeuristicResult_t;
int cublasLtCreate(cublasLtHandle_t *);
int cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *, int computeType, int scaleType);
int cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t, int, const void *, size_t);
int cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *, int type, uint64_t rows, uint64_t cols, int64_t ld);
int cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *);
int cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t, int, const void *, size_t);
int cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                   cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                   cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *, int *);
int cublasLtMatmulAlgoConfigGetAttribute(const cublasLtMatmulAlgo_t *, int, void *, size_t, size_t *);
int cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *alpha, const void *A, cublasLtMatrixLayout_t,
                   const void *B, cublasLtMatrixLayout_t, const void *beta, const void *C, cublasLtMatrixLayout_t,
                   void *D, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *, void *workspace,
                   size_t workspaceSize, cudaStream_t);
const char *cublasLtGetStatusString(int);
typedef struct cublasContext *cublasHandle_t;
int cublasCreate_v2(cublasHandle_t *);
int cublasSetWorkspace_v2(cublasHandle_t, void *, size_t);
int cublasGemmEx(cublasHandle_t, int transa, int transb, int m, int n, int k, const void *alpha, const void *A,
                 int Atype, int lda, const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc,
                 int computeType, int algo);
}

enum { R_32F = 0, R_16BF = 14, R_8F_E4M3 = 28, COMPUTE_32F = 68, OP_N = 0, OP_T = 1 };
enum { DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_A_SCALE_POINTER = 17, DESC_B_SCALE_POINTER = 18, DESC_FAST_ACCUM = 25,
       DESC_A_SCALE_MODE = 31, DESC_B_SCALE_MODE = 32, PREF_MAX_WORKSPACE_BYTES = 1 };
enum { SCALE_SCALAR_32F = 0, SCALE_OUTER_VEC_32F = 3 };
// cublasLtMatmulAlgoConfigAttributes_t: what each candidate is, printed as numbers
enum { CONFIG_ID = 0, CONFIG_TILE_ID = 1, CONFIG_SPLITK_NUM = 2, CONFIG_STAGES_ID = 6, CONFIG_CLUSTER_SHAPE_ID = 8 };

static const size_t WORKSPACE = 32u << 20;

__global__ void fill_bf16(uint16_t *p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    float v = ((h & 0xffff) / 65536.0f - 0.5f);
    uint32_t bits; memcpy(&bits, &v, 4);
    p[i] = (uint16_t)(bits >> 16);
  }
}

struct Case {
  const char *what;
  long m, n, k;      // cuBLASLt's column-major terms: D (m x n) = A^T (m x k) . B (k x n), A and B K-contiguous
  bool fp8;
  int scaleMode;     // for FP8
  bool fastAccum;
  int dType;         // R_16BF or R_32F
  bool addend;       // C != D, beta = 1
  bool accumulate;   // C == D, beta = 1
};

static cublasLtHandle_t lt;
static cublasLtMatmulPreference_t pref;
static void *workspace;
// With a positive value (the third argument), each candidate is also timed held for this many milliseconds after as
// long again of warm-up: at the power cap its time is its energy, which short bursts of calls do not show.
static int sustainedMs = 0;

static void check(int status, const char *call) {
  if (status != 0) {
    fprintf(stderr, "%s: %s\n", call, cublasLtGetStatusString(status));
    exit(1);
  }
}

static long config(const cublasLtMatmulAlgo_t &a, int attr) {
  // the buffer's size must match the attribute's: ask for it first (size 0, no buffer), then read that many bytes
  size_t size = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&a, attr, nullptr, 0, &size) != 0 || size == 0 || size > 8) {
    return -1;
  }
  uint64_t v = 0;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&a, attr, &v, size, &written) != 0) {
    return -1;
  }
  return size == 2 ? (long)(uint16_t)v : size == 4 ? (long)(int32_t)v : (long)v;
}

// Runs one case: every heuristic candidate (up to `candidates`), each timed over `reps` calls after warm-up.
static void run(const Case &c, int candidates, int reps) {
  size_t elem = c.fp8 ? 1 : 2;
  size_t aBytes = c.k * c.m * elem, bBytes = c.k * c.n * elem;
  size_t dBytes = c.m * c.n * (c.dType == R_32F ? 4 : 2);
  void *A, *B, *C, *D;
  float *scaleA, *scaleB;
  CHECK_CUDA(cudaMalloc(&A, aBytes));
  CHECK_CUDA(cudaMalloc(&B, bBytes));
  CHECK_CUDA(cudaMalloc(&D, dBytes));
  CHECK_CUDA(cudaMalloc(&C, dBytes));
  CHECK_CUDA(cudaMalloc(&scaleA, 4 * std::max(c.m, c.n)));
  CHECK_CUDA(cudaMalloc(&scaleB, 4 * std::max(c.m, c.n)));
  std::vector<float> ones(std::max(c.m, c.n), 0.01f);
  CHECK_CUDA(cudaMemcpy(scaleA, ones.data(), 4 * ones.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(scaleB, ones.data(), 4 * ones.size(), cudaMemcpyHostToDevice));
  if (c.fp8) {
    fill_fp8<<<1024, 256>>>((uint8_t *)A, aBytes, 1);
    fill_fp8<<<1024, 256>>>((uint8_t *)B, bBytes, 2);
  } else {
    fill_bf16<<<1024, 256>>>((uint16_t *)A, aBytes / 2, 1);
    fill_bf16<<<1024, 256>>>((uint16_t *)B, bBytes / 2, 2);
  }
  CHECK_CUDA(cudaMemset(C, 0, dBytes));
  CHECK_CUDA(cudaMemset(D, 0, dBytes));

  cublasLtMatmulDesc_t desc;
  check(cublasLtMatmulDescCreate(&desc, COMPUTE_32F, R_32F), "desc");
  int ta = OP_T, tb = OP_N;
  check(cublasLtMatmulDescSetAttribute(desc, DESC_TRANSA, &ta, 4), "transa");
  check(cublasLtMatmulDescSetAttribute(desc, DESC_TRANSB, &tb, 4), "transb");
  if (c.fp8) {
    int mode = c.scaleMode;
    check(cublasLtMatmulDescSetAttribute(desc, DESC_A_SCALE_MODE, &mode, 4), "a scale mode");
    check(cublasLtMatmulDescSetAttribute(desc, DESC_B_SCALE_MODE, &mode, 4), "b scale mode");
    check(cublasLtMatmulDescSetAttribute(desc, DESC_A_SCALE_POINTER, &scaleA, 8), "a scale");
    check(cublasLtMatmulDescSetAttribute(desc, DESC_B_SCALE_POINTER, &scaleB, 8), "b scale");
    int8_t fast = c.fastAccum;
    check(cublasLtMatmulDescSetAttribute(desc, DESC_FAST_ACCUM, &fast, 1), "fast accum");
  }
  int inType = c.fp8 ? R_8F_E4M3 : R_16BF;
  cublasLtMatrixLayout_t la, lb, lc, ld;
  check(cublasLtMatrixLayoutCreate(&la, inType, c.k, c.m, c.k), "layout a");
  check(cublasLtMatrixLayoutCreate(&lb, inType, c.k, c.n, c.k), "layout b");
  check(cublasLtMatrixLayoutCreate(&lc, c.dType, c.m, c.n, c.m), "layout c");
  check(cublasLtMatrixLayoutCreate(&ld, c.dType, c.m, c.n, c.m), "layout d");
  std::vector<cublasLtMatmulHeuristicResult_t> results(candidates);
  int found = 0;
  int status = cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, ld, pref, candidates, results.data(), &found);
  const char *epilogue = c.addend ? "addend" : c.accumulate ? "+=" : "-";
  if (status != 0 || found == 0) {
    printf("%-22s,%ld,%ld,%ld,%d,%d,%s,-,refused: %s\n", c.what, c.m, c.n, c.k, c.scaleMode, c.fastAccum, epilogue,
           status ? cublasLtGetStatusString(status) : "no algorithm");
  } else {
    float alpha = 1, beta = (c.addend || c.accumulate) ? 1 : 0;
    void *cPointer = c.addend ? C : D;
    double flops = 2.0 * c.m * c.n * c.k;
    for (int i = 0; i < found; i++) {
      const cublasLtMatmulAlgo_t *algo = &results[i].algo;
      bool ok = true;
      for (int w = 0; w < 3 && ok; w++) {
        ok = cublasLtMatmul(lt, desc, &alpha, A, la, B, lb, &beta, cPointer, lc, D, ld, algo, workspace, WORKSPACE,
                            0) == 0;
      }
      if (!ok) {
        printf("%-22s,%ld,%ld,%ld,%d,%d,%s,%d,failed\n", c.what, c.m, c.n, c.k, c.scaleMode, c.fastAccum, epilogue, i);
        continue;
      }
      auto call = [&]() {
        cublasLtMatmul(lt, desc, &alpha, A, la, B, lb, &beta, cPointer, lc, D, ld, algo, workspace, WORKSPACE, 0);
      };
      double ms = mean_ms(call, reps);
      char held[32] = "-";  // not timed held unless asked: a dash, not a zero that reads as a time
      if (sustainedMs > 0) {
        int calls = std::max(reps, (int)(sustainedMs / ms));
        mean_ms(call, calls);
        snprintf(held, sizeof held, "%.4f", mean_ms(call, calls));
      }
      printf("%-22s,%ld,%ld,%ld,%d,%d,%s,%d,%.4f,%.0f,%s,algo=%ld tile=%ld stages=%ld splitk=%ld cluster=%ld ws=%zu waves=%.2f\n",
             c.what, c.m, c.n, c.k, c.scaleMode, c.fastAccum, epilogue, i, ms, flops / ms / 1e9, held,
             config(*algo, CONFIG_ID), config(*algo, CONFIG_TILE_ID), config(*algo, CONFIG_STAGES_ID),
             config(*algo, CONFIG_SPLITK_NUM), config(*algo, CONFIG_CLUSTER_SHAPE_ID), results[i].workspaceSize,
             results[i].wavesCount);
    }
  }
  fflush(stdout);
  cudaFree(A); cudaFree(B); cudaFree(C); cudaFree(D); cudaFree(scaleA); cudaFree(scaleB);
}

// One BF16 gemm of the linear step in its own layout (cuBLAS column-major: C m x n = op(A) op(B) over k; a
// transposed operand is stored k-contiguous), timed through cuBLASLt's heuristic's first candidate and through
// cublasGemmEx, whose own kernel choice is what PyTorch's BF16 mm gets. Same data, same workspace, alternately.
static void compareBf16(const char *what, int transa, int transb, long m, long n, long k, int reps) {
  long rowsA = transa == OP_T ? k : m, colsA = transa == OP_T ? m : k;
  long rowsB = transb == OP_T ? n : k, colsB = transb == OP_T ? k : n;
  void *A, *B, *D;
  CHECK_CUDA(cudaMalloc(&A, rowsA * colsA * 2));
  CHECK_CUDA(cudaMalloc(&B, rowsB * colsB * 2));
  CHECK_CUDA(cudaMalloc(&D, m * n * 2));
  fill_bf16<<<1024, 256>>>((uint16_t *)A, rowsA * colsA, 1);
  fill_bf16<<<1024, 256>>>((uint16_t *)B, rowsB * colsB, 2);
  cublasLtMatmulDesc_t desc;
  check(cublasLtMatmulDescCreate(&desc, COMPUTE_32F, R_32F), "desc");
  check(cublasLtMatmulDescSetAttribute(desc, DESC_TRANSA, &transa, 4), "transa");
  check(cublasLtMatmulDescSetAttribute(desc, DESC_TRANSB, &transb, 4), "transb");
  cublasLtMatrixLayout_t la, lb, ld;
  check(cublasLtMatrixLayoutCreate(&la, R_16BF, rowsA, colsA, rowsA), "layout a");
  check(cublasLtMatrixLayoutCreate(&lb, R_16BF, rowsB, colsB, rowsB), "layout b");
  check(cublasLtMatrixLayoutCreate(&ld, R_16BF, m, n, m), "layout d");
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  check(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &result, &found), "heuristic");
  static cublasHandle_t blas = nullptr;
  if (!blas) {
    check(cublasCreate_v2(&blas), "cublasCreate");
    check(cublasSetWorkspace_v2(blas, workspace, WORKSPACE), "cublasSetWorkspace");
  }
  float alpha = 1, beta = 0;
  double best[2] = {1e30, 1e30};
  for (int round = 0; round < 4; round++) {
    for (int which = 0; which < 2; which++) {
      auto call = [&]() {
        if (which == 0) {
          cublasLtMatmul(lt, desc, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &result.algo, workspace, WORKSPACE, 0);
        } else {
          cublasGemmEx(blas, transa, transb, m, n, k, &alpha, A, R_16BF, rowsA, B, R_16BF, rowsB, &beta, D, R_16BF, m,
                       COMPUTE_32F, -1);
        }
      };
      call();
      best[which] = std::min(best[which], mean_ms(call, reps));
    }
  }
  double flops = 2.0 * m * n * k;
  printf("%-22s,%ld,%ld,%ld,%c%c,cublasLt first %.4f ms (%.0f TFLOP/s),cublasGemmEx %.4f ms (%.0f TFLOP/s)\n", what, m,
         n, k, transa == OP_T ? 'T' : 'N', transb == OP_T ? 'T' : 'N', best[0], flops / best[0] / 1e9, best[1],
         flops / best[1] / 1e9);
  fflush(stdout);
  cudaFree(A); cudaFree(B); cudaFree(D);
}

int main(int argc, char **argv) {
  int candidates = argc > 1 ? atoi(argv[1]) : 8;
  int reps = argc > 2 ? atoi(argv[2]) : 20;
  sustainedMs = argc > 3 ? atoi(argv[3]) : 0;
  check(cublasLtCreate(&lt), "create");
  check(cublasLtMatmulPreferenceCreate(&pref), "preference");
  size_t ws = WORKSPACE;
  check(cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace");
  CHECK_CUDA(cudaMalloc(&workspace, WORKSPACE));
  const long T = 16384;  // tokens
  printf("case,m,n,k,scale_mode,fast_accum,epilogue,candidate,ms,tflops,sustained_ms,config\n");
  if (sustainedMs > 0) {
    // the linear benchmark's tensorwise step at M=16384, K=N=8192 (output with fast accumulation, grad_input and
    // grad_weight without) and its BF16 gemms: which candidate is fastest held at the power cap
    run({"linear output", 8192, T, 8192, true, SCALE_SCALAR_32F, true, R_16BF, false, false}, candidates, reps);
    run({"linear grad_input", 8192, T, 8192, true, SCALE_SCALAR_32F, false, R_16BF, false, false}, candidates, reps);
    run({"linear grad_weight", 8192, 8192, T, true, SCALE_SCALAR_32F, false, R_16BF, false, false}, candidates, reps);
    run({"bf16 linear", 8192, T, 8192, false, -1, false, R_16BF, false, false}, candidates, reps);
    run({"bf16 linear dW", 8192, 8192, T, false, -1, false, R_16BF, false, false}, candidates, reps);
    return 0;
  }
  // every FP8 shape of the step, tensorwise, as float8j runs them today (no fast accumulation)
  const long shapes[][3] = {{14336, T, 4096}, {4096, T, 14336}, {4096, T, 4096}, {1024, T, 4096}, {4096, T, 1024}};
  for (auto &s : shapes) {
    run({"tensorwise", s[0], s[1], s[2], true, SCALE_SCALAR_32F, false, R_16BF, false, false}, candidates, reps);
  }
  // the grad_weight gemms, accumulated into F32
  const long weightShapes[][3] = {{4096, 14336, T}, {14336, 4096, T}, {4096, 4096, T}, {4096, 1024, T}};
  for (auto &s : weightShapes) {
    run({"tensorwise dW", s[0], s[1], s[2], true, SCALE_SCALAR_32F, false, R_32F, false, true}, 4, reps);
  }
  // what fast accumulation and an addend in the epilogue cost or give, on the heuristic's first two
  for (auto &s : shapes) {
    run({"tensorwise fast", s[0], s[1], s[2], true, SCALE_SCALAR_32F, true, R_16BF, false, false}, 2, reps);
    run({"tensorwise addend", s[0], s[1], s[2], true, SCALE_SCALAR_32F, false, R_16BF, true, false}, 2, reps);
    run({"rowwise", s[0], s[1], s[2], true, SCALE_OUTER_VEC_32F, false, R_16BF, false, false}, candidates, reps);
    run({"rowwise addend", s[0], s[1], s[2], true, SCALE_OUTER_VEC_32F, false, R_16BF, true, false}, 2, reps);
  }
  // the linear benchmark's BF16 step at M=16384, K=N=8192: output and grad_input (D = 8192 x 16384 over K 8192), and
  // grad_weight (8192 x 8192 over 16384), BF16 out as gpu.sh's BF16 step writes them
  run({"bf16 linear", 8192, T, 8192, false, -1, false, R_16BF, false, false}, candidates, reps);
  run({"bf16 linear dW", 8192, 8192, T, false, -1, false, R_16BF, false, false}, candidates, reps);
  // the same three gemms in the layouts the layer gives them, cuBLASLt's first candidate against cublasGemmEx
  compareBf16("bf16 linear output", OP_T, OP_N, 8192, T, 8192, reps);
  compareBf16("bf16 linear grad_input", OP_N, OP_N, 8192, T, 8192, reps);
  compareBf16("bf16 linear grad_weight", OP_N, OP_T, 8192, 8192, T, reps);
  run({"bf16 head", 32768, T, 4096, false, -1, false, R_16BF, false, false}, 4, reps);
  run({"bf16 4096", 4096, T, 4096, false, -1, false, R_16BF, false, false}, 4, reps);
  run({"bf16 4096 addend", 4096, T, 4096, false, -1, false, R_16BF, true, false}, 2, reps);
  return 0;
}
