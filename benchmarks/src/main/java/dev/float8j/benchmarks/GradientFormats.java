package dev.float8j.benchmarks;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.SplittableRandom;

/**
 * Which FP8 format suits gradients: the SQNR of realistic gradient tensors quantized to E4M3 and to E5M2, for
 * each granularity, along both axes (dY is summed along N for grad_input and along M for grad_weight).
 *
 * <p>The gradients come from a two-layer MLP classifier with a softmax cross-entropy loss, computed in F32:
 * dLogits = (softmax(logits) - onehot) / M, with logits peaked as a trained model's are, and the hidden gradient
 * dH = (dLogits · W2) masked by ReLU. Inputs have a few outlier channels, as transformer activations do.
 */
public final class GradientFormats {
    private GradientFormats() {
    }

    public static void main(String[] args) {
        int tokens = 512;
        int features = 256;
        int hidden = 512;
        int classes = 1024;
        SplittableRandom random = new SplittableRandom(42);
        Backend backend = new ReferenceBackend();

        Tensor x = gaussian(random, tokens, features, 1f);
        for (int r = 0; r < tokens; r++) {
            for (int c = 0; c < features; c += 37) {
                x.set(r, c, x.get(r, c) * 20f); // outlier channels
            }
        }
        Tensor w1 = gaussian(random, hidden, features, (float) (1 / Math.sqrt(features)));
        Tensor w2 = gaussian(random, classes, hidden, (float) (3 / Math.sqrt(hidden)));
        Tensor pre = backend.matmul(x, 1, w1, 1);
        Tensor h = relu(pre);
        Tensor logits = backend.matmul(h, 1, w2, 1);
        Tensor dLogits = crossEntropyGradient(logits, random);
        Tensor dH = backend.matmul(dLogits, 1, w2, 0);
        for (int i = 0; i < dH.size(); i++) {
            if (pre.getFlat(i) <= 0) {
                dH.data()[i] = 0f;
            }
        }

        System.out.printf("SQNR in dB (higher is better) of gradients quantized with the reference backend%n");
        System.out.printf("%-32s %-12s %5s %9s %9s %9s %9s%n", "tensor", "granularity", "axis", "E4M3 dB", "E5M2 dB",
                "E4M3 zero", "E5M2 zero");
        report(backend, "dLogits [" + tokens + "x" + classes + "]", dLogits);
        report(backend, "dH (ReLU-masked) [" + tokens + "x" + hidden + "]", dH);
    }

    private static void report(Backend backend, String name, Tensor g) {
        ScalingGranularity[] granularities = {ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE,
            ScalingGranularity.TILE_1X128, ScalingGranularity.MX_1X32};
        for (ScalingGranularity granularity : granularities) {
            for (int axis = 1; axis >= 0; axis--) {
                double[] e4m3 = sqnr(backend, g, new QuantSpec(Fp8Format.E4M3FN, granularity, axis, false));
                double[] e5m2 = sqnr(backend, g, new QuantSpec(Fp8Format.E5M2, granularity, axis, false));
                System.out.printf("%-32s %-12s %5d %9.2f %9.2f %8.2f%% %8.2f%%%n", name, granularity, axis, e4m3[0], e5m2[0],
                        100 * e4m3[1], 100 * e5m2[1]);
            }
        }
    }

    /** SQNR in dB and the fraction of nonzero elements that became zero. */
    private static double[] sqnr(Backend backend, Tensor g, QuantSpec spec) {
        Float8Tensor q = backend.quantize(g, spec);
        Tensor back = backend.dequantize(q);
        double signal = 0;
        double noise = 0;
        int nonzero = 0;
        int flushed = 0;
        for (int i = 0; i < g.size(); i++) {
            double v = g.getFlat(i);
            double d = v - back.getFlat(i);
            signal += v * v;
            noise += d * d;
            if (v != 0) {
                nonzero++;
                if (back.getFlat(i) == 0) {
                    flushed++;
                }
            }
        }
        return new double[] {10 * Math.log10(signal / noise), flushed / (double) Math.max(1, nonzero)};
    }

    private static Tensor gaussian(SplittableRandom random, int rows, int cols, float std) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return Tensor.of(v, rows, cols);
    }

    private static Tensor relu(Tensor t) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.max(0f, v[i]);
        }
        return Tensor.of(v, t.shape());
    }

    /** (softmax(logits) - onehot(label)) / rows, labels drawn at random. */
    private static Tensor crossEntropyGradient(Tensor logits, SplittableRandom random) {
        int rows = logits.rows();
        int cols = logits.cols();
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, logits.get(r, c));
            }
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += Math.exp(logits.get(r, c) - max);
            }
            int label = random.nextInt(cols);
            for (int c = 0; c < cols; c++) {
                double p = Math.exp(logits.get(r, c) - max) / sum;
                out[r * cols + c] = (float) ((p - (c == label ? 1 : 0)) / rows);
            }
        }
        return Tensor.of(out, rows, cols);
    }
}
