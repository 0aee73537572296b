// Searches cuBLASLt's configurations beyond the one its heuristic picks, for the FP8 gemms of the Llama
// benchmark's step (4 layers, dim 4096, FFN 14336, 32/8 heads, 4 x 4096 tokens) with rowwise (outer-vector) scales,
// next to the same gemms with tensorwise scales. The heuristic offers one configuration for rowwise scales, and it runs
// about 10% slower than the tensorwise one at the largest shapes; the question is whether another tile, custom option,
// swizzle or cluster shape that cuBLASLt accepts for rowwise scales is as fast as tensorwise.
//
// Around the heuristic's algorithm and stage count: every tile, custom option, CTA swizzle and cluster shape it accepts,
// timed within a budget per shape; the tensorwise choice is also tried as it is with rowwise scales. Arguments: [calls
// per timing, default 5] [ms of timing per shape and scale mode, default 12000]. Needs cublasLt.h (the GPU host's CUDA
// toolkit). Build and run with `benchmarks/cublaslt.sh search`.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "cublaslt_bench.cuh"

#define CHECK_LT(x) do { cublasStatus_t s = (x); if (s != CUBLAS_STATUS_SUCCESS) { \
  fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cublasLtGetStatusString(s)); exit(1); } } while (0)

static const size_t WORKSPACE = 32u << 20;

struct Gemm {
  const char *what;
  long m, n, k;          // column-major: D (m x n) = A^T (m x k) . B (k x n), A and B K-contiguous
  cudaDataType_t dType;  // BF16 for outputs and input gradients, F32 (accumulated, beta = 1) for weight gradients
};

struct Problem {
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, ld;
  void *A, *B, *D, *workspace;
  float *scaleA, *scaleB;
  float beta;
};

static Problem make(cublasLtHandle_t lt, void *workspace, const Gemm &g, cublasLtMatmulMatrixScale_t mode) {
  Problem p{};
  p.lt = lt;
  p.workspace = workspace;
  p.beta = g.dType == CUDA_R_32F ? 1.0f : 0.0f;
  CHECK_CUDA(cudaMalloc(&p.A, g.m * g.k));
  CHECK_CUDA(cudaMalloc(&p.B, g.n * g.k));
  CHECK_CUDA(cudaMalloc(&p.D, g.m * g.n * (g.dType == CUDA_R_32F ? 4 : 2)));
  CHECK_CUDA(cudaMemset(p.D, 0, g.m * g.n * (g.dType == CUDA_R_32F ? 4 : 2)));
  long scales = std::max(g.m, g.n);
  CHECK_CUDA(cudaMalloc(&p.scaleA, 4 * scales));
  CHECK_CUDA(cudaMalloc(&p.scaleB, 4 * scales));
  std::vector<float> s(scales, 0.01f);
  CHECK_CUDA(cudaMemcpy(p.scaleA, s.data(), 4 * scales, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(p.scaleB, s.data(), 4 * scales, cudaMemcpyHostToDevice));
  fill_fp8<<<1024, 256>>>((uint8_t *)p.A, g.m * g.k, 1);
  fill_fp8<<<1024, 256>>>((uint8_t *)p.B, g.n * g.k, 2);
  CHECK_LT(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode));
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode));
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p.scaleA, sizeof p.scaleA));
  CHECK_LT(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &p.scaleB, sizeof p.scaleB));
  CHECK_LT(cublasLtMatrixLayoutCreate(&p.la, CUDA_R_8F_E4M3, g.k, g.m, g.k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&p.lb, CUDA_R_8F_E4M3, g.k, g.n, g.k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&p.ld, g.dType, g.m, g.n, g.m));
  return p;
}

static void destroy(Problem &p) {
  cublasLtMatrixLayoutDestroy(p.la); cublasLtMatrixLayoutDestroy(p.lb); cublasLtMatrixLayoutDestroy(p.ld);
  cublasLtMatmulDescDestroy(p.desc);
  cudaFree(p.A); cudaFree(p.B); cudaFree(p.D); cudaFree(p.scaleA); cudaFree(p.scaleB);
}

static bool call(Problem &p, const cublasLtMatmulAlgo_t &algo) {
  float alpha = 1;
  return cublasLtMatmul(p.lt, p.desc, &alpha, p.A, p.la, p.B, p.lb, &p.beta, p.D, p.ld, p.D, p.ld, &algo, p.workspace,
                        WORKSPACE, 0) == CUBLAS_STATUS_SUCCESS;
}

// Mean ms of reps calls after two warm-up calls; a negative value when cuBLASLt refuses to run it.
static double time(Problem &p, const cublasLtMatmulAlgo_t &algo, int reps) {
  if (!call(p, algo) || !call(p, algo)) {
    cudaGetLastError();
    return -1;
  }
  return mean_ms([&]() { call(p, algo); }, reps);
}

template <class T>
static T get(const cublasLtMatmulAlgo_t &a, cublasLtMatmulAlgoConfigAttributes_t attr) {
  T v{};
  size_t written = 0;
  return cublasLtMatmulAlgoConfigGetAttribute(&a, attr, &v, sizeof v, &written) == CUBLAS_STATUS_SUCCESS ? v : T(-1);
}

static void describe(char *out, size_t size, const cublasLtMatmulAlgo_t &a) {
  snprintf(out, size, "algo=%d tile=%u stages=%u swizzle=%u custom=%u cluster=%u splitk=%d",
           get<int32_t>(a, CUBLASLT_ALGO_CONFIG_ID), get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_TILE_ID),
           get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_STAGES_ID), get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
           get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
           (unsigned)get<uint16_t>(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID),
           get<int32_t>(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM));
}

// The ids a capability lists (TILE_IDS, STAGES_IDS): asked for its size first, as cuBLASLt requires.
static std::vector<uint32_t> capabilityIds(const cublasLtMatmulAlgo_t &a, cublasLtMatmulAlgoCapAttributes_t cap) {
  size_t size = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&a, cap, nullptr, 0, &size) != CUBLAS_STATUS_SUCCESS || size == 0) {
    return {0};  // "undefined": cuBLASLt picks
  }
  std::vector<uint32_t> ids(size / 4);
  size_t written = 0;
  CHECK_LT(cublasLtMatmulAlgoCapGetAttribute(&a, cap, ids.data(), size, &written));
  return ids;
}

// The configuration space around the heuristic's choice: the same algorithm and stage count, every tile the algorithm
// lists, every custom option up to its maximum, CTA swizzling off and on, and cluster shapes up to 8 blocks. Those
// cublasLtMatmulAlgoCheck accepts are timed until budgetMs of timing is spent, each first by one call, and only those
// within 1.5x of the heuristic's time by `reps` more. A tile whose first accepted candidate is slower than twice the
// heuristic is left at that: the tile listed first is the smallest and takes seven times the heuristic's time, and
// screening its variants one by one spent a 4 s budget on 150 of 8,000 candidates at the large shapes. The three
// fastest are printed. `other`
// (or null) is the other scale mode's heuristic choice, tried as it is under this one. Returns this scale mode's
// heuristic choice, for the other mode's search.
static cublasLtMatmulAlgo_t search(cublasLtHandle_t lt, void *workspace, const Gemm &g, cublasLtMatmulMatrixScale_t mode,
                                   const char *modeName, int reps, double budgetMs, const cublasLtMatmulAlgo_t *other) {
  Problem p = make(lt, workspace, g, mode);
  double flops = 2.0 * g.m * g.n * g.k;
  char config[256];
  cublasLtMatmulPreference_t pref;
  CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
  size_t ws = WORKSPACE;
  CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  cublasLtMatmulHeuristicResult_t first{};
  int found = 0;
  CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.la, p.lb, p.ld, p.ld, pref, 1, &first, &found));
  if (found == 0) {
    printf("%s,%s,%ld,%ld,%ld,no heuristic result\n", g.what, modeName, g.m, g.n, g.k);
    exit(1);
  }
  double heuristicMs = time(p, first.algo, reps);
  if (heuristicMs < 0) {
    printf("%s,%s,%ld,%ld,%ld,the heuristic's choice failed to run\n", g.what, modeName, g.m, g.n, g.k);
    exit(1);
  }
  describe(config, sizeof config, first.algo);
  printf("%s,%s,%ld,%ld,%ld,heuristic,%.4f,%.0f,%s\n", g.what, modeName, g.m, g.n, g.k, heuristicMs,
         flops / heuristicMs / 1e9, config);
  if (other != nullptr) {
    cublasLtMatmulHeuristicResult_t check{};
    describe(config, sizeof config, *other);
    if (cublasLtMatmulAlgoCheck(lt, p.desc, p.la, p.lb, p.ld, p.ld, other, &check) == CUBLAS_STATUS_SUCCESS &&
        check.workspaceSize <= WORKSPACE) {
      double ms = time(p, *other, reps);
      if (ms < 0) ms = NAN;  // accepted by the check but refused by the call
      printf("%s,%s,%ld,%ld,%ld,the other scale mode's choice,%.4f,%.0f,%s\n", g.what, modeName, g.m, g.n, g.k, ms,
             flops / ms / 1e9, config);
    } else {
      printf("%s,%s,%ld,%ld,%ld,the other scale mode's choice refused,-,-,%s\n", g.what, modeName, g.m, g.n, g.k, config);
    }
  }
  uint32_t stage = get<uint32_t>(first.algo, CUBLASLT_ALGO_CONFIG_STAGES_ID);
  std::vector<uint32_t> tiles = capabilityIds(first.algo, CUBLASLT_ALGO_CAP_TILE_IDS);
  uint32_t customMax = 0;
  size_t written = 0;
  cublasLtMatmulAlgoCapGetAttribute(&first.algo, CUBLASLT_ALGO_CAP_CUSTOM_OPTION_MAX, &customMax, sizeof customMax,
                                    &written);
  const uint16_t clusters[] = {CUBLASLT_CLUSTER_SHAPE_AUTO, CUBLASLT_CLUSTER_SHAPE_1x1x1, CUBLASLT_CLUSTER_SHAPE_2x1x1,
                               CUBLASLT_CLUSTER_SHAPE_4x1x1, CUBLASLT_CLUSTER_SHAPE_1x2x1, CUBLASLT_CLUSTER_SHAPE_2x2x1,
                               CUBLASLT_CLUSTER_SHAPE_4x2x1, CUBLASLT_CLUSTER_SHAPE_1x4x1, CUBLASLT_CLUSTER_SHAPE_2x4x1,
                               CUBLASLT_CLUSTER_SHAPE_8x1x1, CUBLASLT_CLUSTER_SHAPE_1x8x1};
  std::vector<std::pair<double, cublasLtMatmulAlgo_t>> timed;
  int tried = 0, accepted = 0;
  double spentMs = 0;
  int tilesSkipped = 0;
  for (uint32_t tile : tiles) {
    bool firstOfTile = true, skipTile = false;
    for (uint32_t custom = 0; custom <= customMax && !skipTile; custom++) {
      for (uint32_t swizzle = 0; swizzle < 2 && !skipTile; swizzle++) {
        for (uint16_t cluster : clusters) {
          cublasLtMatmulAlgo_t c = first.algo;
          cublasLtMatmulAlgoConfigSetAttribute(&c, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile);
          cublasLtMatmulAlgoConfigSetAttribute(&c, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stage, sizeof stage);
          cublasLtMatmulAlgoConfigSetAttribute(&c, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom, sizeof custom);
          cublasLtMatmulAlgoConfigSetAttribute(&c, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof swizzle);
          cublasLtMatmulAlgoConfigSetAttribute(&c, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof cluster);
          cublasLtMatmulHeuristicResult_t check{};
          tried++;
          if (cublasLtMatmulAlgoCheck(lt, p.desc, p.la, p.lb, p.ld, p.ld, &c, &check) != CUBLAS_STATUS_SUCCESS ||
              check.workspaceSize > WORKSPACE) {
            continue;
          }
          accepted++;
          if (spentMs > budgetMs) continue;
          double once = time(p, c, 1);
          if (once <= 0) continue;
          spentMs += once * 3;
          if (firstOfTile && once > 2 * heuristicMs) {
            skipTile = true;
            tilesSkipped++;
            break;
          }
          firstOfTile = false;
          if (once > 1.5 * heuristicMs) continue;
          double ms = time(p, c, reps);
          if (ms > 0) {
            spentMs += ms * (reps + 2);
            timed.push_back({ms, c});
          }
        }
      }
    }
  }
  std::sort(timed.begin(), timed.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
  if (timed.empty()) {
    printf("%s,%s,%ld,%ld,%ld,none within 1.5x of the heuristic (%d accepted of %d tried; %d of %zu tiles left after a "
           "first candidate over 2x; %.0f of %.0f ms of budget spent),-,-,-\n",
           g.what, modeName, g.m, g.n, g.k, accepted, tried, tilesSkipped, tiles.size(), spentMs, budgetMs);
  }
  for (size_t i = 0; i < timed.size() && i < 3; i++) {
    describe(config, sizeof config, timed[i].second);
    printf("%s,%s,%ld,%ld,%ld,fastest %zu of %zu within 1.5x of the heuristic (%d accepted of %d tried; %d of %zu tiles left after a first candidate over 2x; custom options 0-%u),%.4f,%.0f,%s\n",
           g.what, modeName, g.m, g.n, g.k, i + 1, timed.size(), accepted, tried, tilesSkipped, tiles.size(), customMax, timed[i].first,
           flops / timed[i].first / 1e9, config);
  }
  fflush(stdout);
  cublasLtMatmulPreferenceDestroy(pref);
  destroy(p);
  return first.algo;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  double budgetMs = argc > 2 ? atof(argv[2]) : 12000;
  cublasLtHandle_t lt;
  CHECK_LT(cublasLtCreate(&lt));
  void *workspace;
  CHECK_CUDA(cudaMalloc(&workspace, WORKSPACE));
  const long T = 16384;
  const Gemm gemms[] = {
      {"output gate/up", 14336, T, 4096, CUDA_R_16BF}, {"output down", 4096, T, 14336, CUDA_R_16BF},
      {"output q/o", 4096, T, 4096, CUDA_R_16BF},      {"grad_input k/v", 4096, T, 1024, CUDA_R_16BF},
      {"grad_weight gate/up", 4096, 14336, T, CUDA_R_32F}, {"grad_weight down", 14336, 4096, T, CUDA_R_32F},
  };
  printf("gemm,scales,m,n,k,what,ms,tflops,config\n");
  for (const Gemm &g : gemms) {
    cublasLtMatmulAlgo_t tensorwise =
        search(lt, workspace, g, CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F, "tensorwise", reps, budgetMs, nullptr);
    search(lt, workspace, g, CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, "rowwise", reps, budgetMs, &tensorwise);
  }
  return 0;
}
