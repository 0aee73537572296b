package dev.float8j.benchmarks.cuda;

import dev.float8j.plan.Float8Plan;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cuda.CudaBackend;

/**
 * Times the device FP8 gemm with fast accumulation, BF16 out, at the Llama step's shapes, tensorwise and rowwise,
 * through cuBLASLt and through float8j's own Hopper kernel (gemm_sm90.cu), alternately in one process: two backends,
 * made with -Dfloat8j.cuda.ownGemm=false and =true. Prints CSV {@code gemm,recipe,m,k,n,cublaslt_ms,own_ms,
 * cublaslt_tflops,own_tflops}. Predicted: the own kernel's main loop is the same for both recipes, so its rowwise
 * should run at its tensorwise speed; cuBLASLt's rowwise ran 6-18% slower than its tensorwise on an H100.
 */
public final class Fp8GemmBenchmark {
    private static final int WARMUP = 3;
    private static final int REPEATS = 20;
    /** m x k x n of the step's gemms: outputs, grad_inputs and grad_weights of q/o, k/v, gate/up and down. */
    private static final int[][] SHAPES = {
        {16384, 4096, 4096}, {16384, 4096, 1024}, {16384, 4096, 14336}, {16384, 14336, 4096},
        {4096, 16384, 14336}, {14336, 16384, 4096}, {4096, 16384, 4096}};

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
            for (String name : new String[] {"tensorwise", "rowwise"}) {
                Float8Plan plan = name.equals("tensorwise") ? Float8Plan.tensorwise() : Float8Plan.rowwise();
                double[] ms = new double[2];
                CudaBackend[] backends = {cublas, own};
                for (int i = 0; i < 2; i++) {
                    CudaBackend b = backends[i];
                    Tensor xd = b.toDevice(x);
                    Tensor wd = b.toDevice(w);
                    Float8Tensor xq = b.quantize(xd, plan.output().first());
                    Float8Tensor wq = b.quantize(wd, plan.output().second());
                    b.release(xd);
                    b.release(wd);
                    ms[i] = EventTiming.meanMillis(b, WARMUP, REPEATS,
                            () -> b.release(b.gemm(xq, wq, null, DType.BF16, null, true)));
                    b.release(xq);
                    b.release(wq);
                }
                double flops = 2.0 * m * k * n;
                System.out.printf("%dx%dx%d,%s,%d,%d,%d,%.4f,%.4f,%.0f,%.0f%n", m, k, n, name, m, k, n, ms[0], ms[1],
                        flops / ms[0] / 1e9, flops / ms[1] / 1e9);
            }
        }
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
