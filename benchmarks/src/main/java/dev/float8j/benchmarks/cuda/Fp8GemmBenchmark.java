package dev.float8j.benchmarks.cuda;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cuda.CudaBackend;

/**
 * Times the device FP8 gemm, BF16 out, at the Llama step's shapes and the linear benchmark's (M=16384, K=N=8192),
 * through cuBLASLt and through float8j's own Hopper kernels (gemm_sm90.cu), alternately in one process: two backends,
 * made with -Dfloat8j.cuda.ownGemm=false and =true. Tensorwise and rowwise with fast accumulation; blockwise as the
 * output gemm (x in 1x128 tiles, W in 128x128 blocks) and as grad_weight (1x128 x 1x128), without it. Prints CSV
 * {@code gemm,recipe,m,k,n,cublaslt_ms,own_ms,cublaslt_tflops,own_tflops}. Predicted: the own kernel's main loop is
 * the same for tensorwise and rowwise, so its rowwise should run at its tensorwise speed (cuBLASLt's rowwise ran 6-18%
 * slower than its tensorwise on an H100); cuBLASLt's block-scaled gemms ran at 860-1,140 TFLOP/s on an H200, where
 * its tensorwise ones reach 1,300 and more, so a block-scaled kernel that keeps the tensor cores as busy as the
 * tensorwise one would gain 15-35%.
 */
public final class Fp8GemmBenchmark {
    private static final int WARMUP = 3;
    private static final int REPEATS = 20;
    /** m x k x n of the step's gemms: outputs, grad_inputs and grad_weights of q/o, k/v, gate/up and down. */
    private static final int[][] SHAPES = {
        {16384, 4096, 4096}, {16384, 4096, 1024}, {16384, 4096, 14336}, {16384, 14336, 4096},
        {4096, 16384, 14336}, {14336, 16384, 4096}, {4096, 16384, 4096}, {16384, 8192, 8192}, {8192, 16384, 8192}};

    private Fp8GemmBenchmark() {
    }

    public static void main(String[] args) {
        System.setProperty("float8j.cuda.ownGemm", "false");
        CudaBackend cublas = CudaBackend.create();
        System.setProperty("float8j.cuda.ownGemm", "true");
        CudaBackend own = CudaBackend.create();
        System.out.println("# device: " + cublas.deviceName() + ", " + REPEATS + " timed calls per figure");
        System.out.println("gemm,recipe,m,k,n,cublaslt_ms,own_ms,cublaslt_tflops,own_tflops");
        for (int[] s : SHAPES) {
            int m = s[0];
            int k = s[1];
            int n = s[2];
            Tensor x = Tensor.zeros(DType.F32, m, k);
            Tensor w = Tensor.zeros(DType.F32, n, k);
            fill(x, 1);
            fill(w, 2);
            for (String name : new String[] {"tensorwise", "rowwise", "blockwise", "blockwise_grad_weight"}) {
                QuantSpec[] specs = specs(name);
                boolean fast = !name.startsWith("blockwise");
                double[] ms = new double[2];
                CudaBackend[] backends = {cublas, own};
                for (int i = 0; i < 2; i++) {
                    CudaBackend b = backends[i];
                    Tensor xd = b.toDevice(x);
                    Tensor wd = b.toDevice(w);
                    Float8Tensor xq = b.quantize(xd, specs[0]);
                    Float8Tensor wq = b.quantize(wd, specs[1]);
                    b.release(xd);
                    b.release(wd);
                    ms[i] = EventTiming.meanMillis(b, WARMUP, REPEATS,
                            () -> b.release(b.gemm(xq, wq, null, DType.BF16, null, fast)));
                    b.release(xq);
                    b.release(wq);
                }
                double flops = 2.0 * m * k * n;
                System.out.printf("%dx%dx%d,%s,%d,%d,%d,%.4f,%.4f,%.0f,%.0f%n", m, k, n, name, m, k, n, ms[0], ms[1],
                        flops / ms[0] / 1e9, flops / ms[1] / 1e9);
            }
        }
    }

    /** The two operands' specs of a recipe's gemm, as named in the CSV. */
    private static QuantSpec[] specs(String name) {
        if (name.equals("blockwise_grad_weight")) {
            QuantSpec tiles = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);
            return new QuantSpec[] {tiles, tiles};
        }
        Float8Plan plan = switch (name) {
            case "tensorwise" -> Float8Plan.tensorwise();
            case "rowwise" -> Float8Plan.rowwise();
            default -> Float8Plan.blockwise();
        };
        return new QuantSpec[] {plan.output().first(), plan.output().second()};
    }

    /** Values in [-1, 1) from a hash of the index, without a random generator's cost at these sizes. */
    private static void fill(Tensor t, long seed) {
        float[] data = t.data();
        for (int i = 0; i < data.length; i++) {
            long h = (i + seed * 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L;
            data[i] = ((h >>> 40) % 2001 - 1000) / 1000f;
        }
    }

}
