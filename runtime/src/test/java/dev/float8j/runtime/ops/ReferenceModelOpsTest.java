package dev.float8j.runtime.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.GradientCheck;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each op on hand-computed small cases, and every backward against central differences. */
public class ReferenceModelOpsTest {
    private static final ModelOps OPS = ReferenceModelOps.INSTANCE;
    private static final double H = 1e-2;
    private static final double TOLERANCE = 1e-2;

    /** Σ y·r in double: the objective whose gradient with respect to y is r. */
    private static double dot(Tensor y, Tensor r) {
        double sum = 0;
        for (int i = 0; i < y.size(); i++) {
            sum += (double) y.getFlat(i) * r.getFlat(i);
        }
        return sum;
    }

    // ---- embedding ----

    @Test
    void embeddingPicksRowsAndItsBackwardAddsRepeatedIds() {
        Tensor table = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        TokenIds ids = OPS.tokens(new int[] {2, 0, 2}, 1, 3);
        Tensor y = OPS.embedding(table, ids, DType.F32);
        assertArrayEquals(new float[] {5, 6, 1, 2, 5, 6}, y.toFloatArray());
        assertEquals(DType.BF16, OPS.embedding(table, ids, DType.BF16).dtype());

        Tensor grad = Tensor.zeros(DType.F32, 3, 2);
        OPS.embeddingBackward(grad, ids, Tensor.of(new float[] {1, 10, 100, 1000, 2, 20}, 3, 2));
        assertArrayEquals(new float[] {100, 1000, 0, 0, 3, 30}, grad.toFloatArray());
    }

    @Test
    void embeddingRejectsAnIdOutsideTheVocabulary() {
        Tensor table = Tensor.zeros(DType.F32, 3, 2);
        var e = assertThrows(IllegalArgumentException.class,
                () -> OPS.embedding(table, OPS.tokens(new int[] {0, 3}, 1, 2), DType.F32));
        assertTrue(e.getMessage().contains("token 3 at position 1"), e.getMessage());
    }

    // ---- RMSNorm ----

    @Test
    void rmsNormDividesByTheRootMeanSquare() {
        Tensor x = Tensor.of(new float[] {3, 4, 0, 0}, 2, 2);
        NormResult n = OPS.rmsNorm(x, Tensor.of(new float[] {1, 2}, 1, 2), 1e-6f);
        double rms = Math.sqrt(12.5 + 1e-6);
        assertEquals(3 / rms, n.y().get(0, 0), 1e-6);
        assertEquals(8 / rms, n.y().get(0, 1), 1e-6);
        assertEquals(1 / rms, n.inverseRms().get(0, 0), 1e-7);
        assertEquals(0f, n.y().get(1, 0)); // a zero row stays zero: eps keeps the division finite
        assertEquals(1 / Math.sqrt(1e-6), n.inverseRms().get(1, 0), 1e-2);
    }

    @Test
    void rmsNormBackwardMatchesFiniteDifferences() {
        Tensor x = GradientCheck.random(1, 2f, 3, 5);
        Tensor gain = GradientCheck.random(2, 1.5f, 1, 5);
        Tensor r = GradientCheck.random(3, 1f, 3, 5);
        float eps = 1e-5f;
        Tensor gradGain = Tensor.zeros(DType.F32, 1, 5);
        NormResult n = OPS.rmsNorm(x, gain, eps);
        Tensor dx = OPS.rmsNormBackward(r, x, gain, n.inverseRms(), gradGain);
        GradientCheck.compare("rmsNorm dx", dx.toFloatArray(), x.data(), () -> dot(OPS.rmsNorm(x, gain, eps).y(), r), H,
                TOLERANCE);
        GradientCheck.compare("rmsNorm dGain", gradGain.toFloatArray(), gain.data(),
                () -> dot(OPS.rmsNorm(x, gain, eps).y(), r), H, TOLERANCE);
    }

    /** parts added element by element in F32, in order: the dY that rmsNormBackwardSum promises to use. */
    static Tensor f32Sum(Tensor... parts) {
        float[] sum = new float[parts[0].size()];
        for (Tensor part : parts) {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += part.getFlat(i);
            }
        }
        return Tensor.of(sum, parts[0].shape());
    }

    @Test
    void rmsNormBackwardSumIsTheBackwardOfItsPartsAddedInF32() {
        Tensor x = GradientCheck.random(1, 2f, 3, 5).to(DType.BF16);
        Tensor gain = GradientCheck.random(2, 1.5f, 1, 5);
        NormResult n = OPS.rmsNorm(x, gain, 1e-5f);
        Tensor[] parts = {GradientCheck.random(3, 1f, 3, 5).to(DType.BF16), GradientCheck.random(4, 1f, 3, 5).to(DType.BF16),
                GradientCheck.random(5, 1f, 3, 5).to(DType.BF16)};
        // 1 + 3·2^-10 + 3·2^-10 is 1.005859375 in F32, but 1 after each add rounds to BF16 (steps of 2^-7 there)
        parts[0].set(0, 0, 1f);
        parts[1].set(0, 0, 3f / 1024);
        parts[2].set(0, 0, 3f / 1024);
        Tensor residual = GradientCheck.random(6, 1f, 3, 5).to(DType.BF16);
        assertBackwardSumIsTheBackwardOfTheF32Sum(OPS, x, gain, n.inverseRms(), parts, residual);
        assertEquals(1.005859375f, f32Sum(parts).get(0, 0));
    }

    /**
     * ops.rmsNormBackwardSum over the first 1, 2 and 3 parts, with and without a residual, against rmsNormBackward and
     * rmsNormBackwardAdd of their F32 sum, bit for bit (a host backend's ops; the CPU backend's test calls it too).
     */
    public static void assertBackwardSumIsTheBackwardOfTheF32Sum(ModelOps ops, Tensor x, Tensor gain, Tensor inverseRms,
            Tensor[] parts, Tensor residual) {
        int dim = x.cols();
        for (int count = 1; count <= parts.length; count++) {
            List<Tensor> used = List.of(parts).subList(0, count);
            Tensor dY = f32Sum(used.toArray(Tensor[]::new));
            Tensor expectedGain = Tensor.zeros(DType.F32, 1, dim);
            Tensor actualGain = Tensor.zeros(DType.F32, 1, dim);
            Tensor expected = ops.rmsNormBackward(dY, x, gain, inverseRms, expectedGain);
            Tensor actual = ops.rmsNormBackwardSum(null, used, x, gain, inverseRms, actualGain);
            assertArrayEquals(expected.toFloatArray(), actual.toFloatArray(), count + " parts: dX");
            assertArrayEquals(expectedGain.toFloatArray(), actualGain.toFloatArray(), count + " parts: gain gradient");
            assertEquals(x.dtype(), actual.dtype());

            Tensor expectedSum = ops.rmsNormBackwardAdd(residual, dY, x, gain, inverseRms, expectedGain);
            Tensor actualSum = ops.rmsNormBackwardSum(residual, used, x, gain, inverseRms, actualGain);
            assertArrayEquals(expectedSum.toFloatArray(), actualSum.toFloatArray(), count + " parts: residual + dX");
        }
    }

    @Test
    void rmsNormBackwardSumRefusesTooFewTooManyOrMismatchedParts() {
        Tensor x = GradientCheck.random(1, 2f, 3, 5);
        Tensor gain = GradientCheck.random(2, 1.5f, 1, 5);
        NormResult n = OPS.rmsNorm(x, gain, 1e-5f);
        Tensor part = GradientCheck.random(3, 1f, 3, 5);
        Tensor gradGain = Tensor.zeros(DType.F32, 1, 5);
        for (List<Tensor> bad : List.of(List.<Tensor>of(), List.of(part, part, part, part), List.of(part, part.to(DType.BF16)),
                List.of(part, GradientCheck.random(4, 1f, 5, 3)))) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> OPS.rmsNormBackwardSum(null, bad, x, gain, n.inverseRms(), gradGain));
            assertTrue(e.getMessage().startsWith("rmsNormBackwardSum: "), e.getMessage());
        }
        assertArrayEquals(new float[5], gradGain.toFloatArray(), "a refused call adds nothing to the gain's gradient");
    }

    // ---- rotary position embedding ----

    @Test
    void ropeRotatesEachPairByItsPositionsAngle() {
        // batch 1, seq 2, one head of dim 4: pairs (0, 2) at frequency 1 and (1, 3) at 100^(-1/2) = 0.1
        AttentionShape shape = new AttentionShape(1, 2, 1, 1, 4);
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 1, 2, 3, 4}, 2, 4);
        Tensor y = OPS.rope(x, shape, 1, 100f, false);
        assertArrayEquals(new float[] {1, 2, 3, 4}, new float[] {y.get(0, 0), y.get(0, 1), y.get(0, 2), y.get(0, 3)},
                "position 0 is not rotated");
        assertEquals(1 * Math.cos(1) - 3 * Math.sin(1), y.get(1, 0), 1e-6);
        assertEquals(1 * Math.sin(1) + 3 * Math.cos(1), y.get(1, 2), 1e-6);
        assertEquals(2 * Math.cos(0.1) - 4 * Math.sin(0.1), y.get(1, 1), 1e-6);
        assertEquals(2 * Math.sin(0.1) + 4 * Math.cos(0.1), y.get(1, 3), 1e-6);
        assertArrayEquals(x.toFloatArray(), OPS.rope(y, shape, 1, 100f, true).toFloatArray(), 1e-6f);
    }

    @Test
    void ropeInverseIsTheBackwardOfRopeOnEveryHeadAndBatch() {
        AttentionShape shape = new AttentionShape(2, 3, 4, 2, 4);
        Tensor k = GradientCheck.random(4, 1f, 6, 2 * 4); // kv heads: the heads argument, not shape.heads()
        Tensor r = GradientCheck.random(5, 1f, 6, 2 * 4);
        Tensor dk = OPS.rope(r, shape, 2, 10_000f, true);
        GradientCheck.compare("rope", dk.toFloatArray(), k.data(), () -> dot(OPS.rope(k, shape, 2, 10_000f, false), r), H,
                TOLERANCE);
    }

    // ---- attention ----

    @Test
    void attentionOfTwoPositionsByHand() {
        // one head of dim 2; position 0 sees only itself, position 1 both
        AttentionShape shape = new AttentionShape(1, 2, 1, 1, 2);
        Tensor q = Tensor.of(new float[] {1, 0, 0, 2}, 2, 2);
        Tensor k = Tensor.of(new float[] {1, 1, 0, 1}, 2, 2);
        Tensor v = Tensor.of(new float[] {10, 20, 30, 40}, 2, 2);
        AttentionResult a = OPS.attention(q, k, v, shape);
        double s = 1 / Math.sqrt(2);
        assertEquals(10, a.out().get(0, 0), 1e-5);
        assertEquals(20, a.out().get(0, 1), 1e-5);
        assertEquals(s * 1, a.logSumExp().get(0, 0), 1e-6);
        double s0 = s * 2; // q1·k0
        double s1 = s * 2; // q1·k1
        double p0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1));
        assertEquals(p0 * 10 + (1 - p0) * 30, a.out().get(1, 0), 1e-5);
        assertEquals(p0 * 20 + (1 - p0) * 40, a.out().get(1, 1), 1e-5);
        assertEquals(Math.log(Math.exp(s0) + Math.exp(s1)), a.logSumExp().get(0, 1), 1e-6);
    }

    @Test
    void groupedQueryAttentionEqualsFullAttentionWithKeysRepeatedPerHead() {
        int batch = 2;
        int seq = 3;
        int headDim = 2;
        Tensor q = GradientCheck.random(6, 1f, batch * seq, 4 * headDim);
        Tensor k = GradientCheck.random(7, 1f, batch * seq, 2 * headDim);
        Tensor v = GradientCheck.random(8, 1f, batch * seq, 2 * headDim);
        // query heads 0, 1 read kv head 0; heads 2, 3 read kv head 1
        Tensor kFull = repeatHeads(k, headDim);
        Tensor vFull = repeatHeads(v, headDim);
        AttentionResult gqa = OPS.attention(q, k, v, new AttentionShape(batch, seq, 4, 2, headDim));
        AttentionResult full = OPS.attention(q, kFull, vFull, new AttentionShape(batch, seq, 4, 4, headDim));
        assertArrayEquals(full.out().toFloatArray(), gqa.out().toFloatArray(), 1e-6f);
        assertArrayEquals(full.logSumExp().toFloatArray(), gqa.logSumExp().toFloatArray(), 1e-6f);
    }

    private static Tensor repeatHeads(Tensor kv, int headDim) {
        int rows = kv.rows();
        float[] out = new float[rows * 4 * headDim];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < 4; h++) {
                for (int d = 0; d < headDim; d++) {
                    out[(r * 4 + h) * headDim + d] = kv.get(r, (h / 2) * headDim + d);
                }
            }
        }
        return Tensor.of(out, rows, 4 * headDim);
    }

    @Test
    void attentionIsCausal() {
        AttentionShape shape = new AttentionShape(1, 3, 1, 1, 2);
        Tensor q = GradientCheck.random(9, 1f, 3, 2);
        Tensor k = GradientCheck.random(10, 1f, 3, 2);
        Tensor v = GradientCheck.random(11, 1f, 3, 2);
        Tensor before = OPS.attention(q, k, v, shape).out();
        k.data()[4] += 5; // the last position's key and value
        v.data()[5] -= 5;
        Tensor after = OPS.attention(q, k, v, shape).out();
        assertArrayEquals(java.util.Arrays.copyOf(before.toFloatArray(), 4), java.util.Arrays.copyOf(after.toFloatArray(), 4));
    }

    @Test
    void attentionBackwardMatchesFiniteDifferences() {
        AttentionShape shape = new AttentionShape(2, 3, 4, 2, 2);
        Tensor q = GradientCheck.random(12, 1.5f, 6, 8);
        Tensor k = GradientCheck.random(13, 1.5f, 6, 4);
        Tensor v = GradientCheck.random(14, 1.5f, 6, 4);
        Tensor r = GradientCheck.random(15, 1f, 6, 8);
        AttentionResult forward = OPS.attention(q, k, v, shape);
        AttentionGrads g = OPS.attentionBackward(r, q, k, v, forward, shape);
        java.util.function.DoubleSupplier objective = () -> dot(OPS.attention(q, k, v, shape).out(), r);
        GradientCheck.compare("attention dQ", g.dQ().toFloatArray(), q.data(), objective, H, TOLERANCE);
        GradientCheck.compare("attention dK", g.dK().toFloatArray(), k.data(), objective, H, TOLERANCE);
        GradientCheck.compare("attention dV", g.dV().toFloatArray(), v.data(), objective, H, TOLERANCE);
    }

    @Test
    void attentionRejectsKeysOfTheWrongWidth() {
        AttentionShape shape = new AttentionShape(1, 2, 2, 1, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> OPS.attention(Tensor.zeros(DType.F32, 2, 4),
                Tensor.zeros(DType.F32, 2, 4), Tensor.zeros(DType.F32, 2, 2), shape));
        assertTrue(e.getMessage().contains("k must be a 2 x 2 matrix"), e.getMessage());
    }

    // ---- SwiGLU ----

    @Test
    void swigluIsSiluOfGateTimesUp() {
        Tensor h = OPS.swiglu(Tensor.of(new float[] {0, 1, -2}, 1, 3), Tensor.of(new float[] {5, 2, 3}, 1, 3));
        assertEquals(0f, h.get(0, 0));
        assertEquals(2 / (1 + Math.exp(-1)), h.get(0, 1), 1e-6);
        assertEquals(3 * -2 / (1 + Math.exp(2)), h.get(0, 2), 1e-6);
    }

    @Test
    void swigluBackwardMatchesFiniteDifferences() {
        Tensor gate = GradientCheck.random(16, 3f, 2, 5);
        Tensor up = GradientCheck.random(17, 2f, 2, 5);
        Tensor r = GradientCheck.random(18, 1f, 2, 5);
        Tensor[] g = OPS.swigluBackward(r, gate, up);
        GradientCheck.compare("swiglu dGate", g[0].toFloatArray(), gate.data(), () -> dot(OPS.swiglu(gate, up), r), H,
                TOLERANCE);
        GradientCheck.compare("swiglu dUp", g[1].toFloatArray(), up.data(), () -> dot(OPS.swiglu(gate, up), r), H,
                TOLERANCE);
    }

    // ---- residual, loss ----

    @Test
    void addKeepsTheFirstDtypeAndRoundsOnce() {
        Tensor a = Tensor.of(new float[] {1, 2}, 1, 2).to(DType.BF16);
        Tensor sum = OPS.add(a, Tensor.of(new float[] {0.001f, 0.5f}, 1, 2));
        assertEquals(DType.BF16, sum.dtype());
        assertEquals(BFloat16.round(1.001f), sum.get(0, 0));
        assertEquals(2.5f, sum.get(0, 1));
    }

    @Test
    void crossEntropyOfUniformLogitsIsLogClasses() {
        LossResult l = OPS.crossEntropy(Tensor.zeros(DType.F32, 2, 3), OPS.tokens(new int[] {1, 2}, 1, 2));
        assertEquals(Math.log(3), l.loss().get(0, 0), 1e-6);
        assertArrayEquals(new float[] {1 / 6f, -1 / 3f, 1 / 6f, 1 / 6f, 1 / 6f, -1 / 3f}, l.dLogits().toFloatArray(),
                1e-7f);
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        Tensor logits = GradientCheck.random(19, 4f, 3, 5);
        TokenIds targets = OPS.tokens(new int[] {4, 0, 2}, 3, 1);
        LossResult l = OPS.crossEntropy(logits, targets);
        GradientCheck.compare("crossEntropy", l.dLogits().toFloatArray(), logits.data(),
                () -> OPS.crossEntropy(logits, targets).loss().get(0, 0), 1e-3, TOLERANCE);
    }

    // ---- optimizer ----

    @Test
    void sumOfSquaresAddsOverEveryTensor() {
        Tensor s = OPS.sumOfSquares(List.of(Tensor.of(new float[] {1, 2}, 1, 2), Tensor.of(new float[] {3}, 1, 1)));
        assertEquals(14f, s.get(0, 0));
    }

    @Test
    void adamwFollowsTheFormulaWithClippingReadFromTheSumOfSquares() {
        Tensor w = Tensor.of(new float[] {1, -2}, 1, 2);
        Tensor m = Tensor.zeros(DType.F32, 1, 2);
        Tensor v = Tensor.zeros(DType.F32, 1, 2);
        double[] expectW = {1, -2};
        double[] mom = new double[2];
        double[] vel = new double[2];
        float[][] grads = {{3, -4}, {0.25f, 0.5f}};
        for (int t = 1; t <= 2; t++) {
            Tensor g = Tensor.of(grads[t - 1].clone(), 1, 2);
            Tensor sumSq = OPS.sumOfSquares(List.of(g));
            OPS.adamw(w, g, m, v, new AdamWStep(0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, t), sumSq, 1f, null);
            double norm = Math.hypot(grads[t - 1][0], grads[t - 1][1]);
            double clip = Math.min(1, 1 / (norm + 1e-6)); // 1/5 at step 1, none at step 2
            for (int i = 0; i < 2; i++) {
                double gi = grads[t - 1][i] * clip;
                mom[i] = 0.9 * mom[i] + 0.1 * gi;
                vel[i] = 0.999 * vel[i] + 0.001 * gi * gi;
                double mHat = mom[i] / (1 - Math.pow(0.9, t));
                double vHat = vel[i] / (1 - Math.pow(0.999, t));
                expectW[i] -= 0.1 * (mHat / (Math.sqrt(vHat) + 1e-8) + 0.01 * expectW[i]);
                assertEquals(expectW[i], w.get(0, i), 1e-5);
                assertEquals(mom[i], m.get(0, i), 1e-6);
            }
        }
    }

    @Test
    void aGuardedAdamwWritesNothingOnANonFiniteLossOrSumOfSquares() {
        Tensor w = Tensor.of(new float[] {1, -2}, 1, 2);
        Tensor m = Tensor.of(new float[] {0.5f, -0.25f}, 1, 2);
        Tensor v = Tensor.of(new float[] {0.25f, 1}, 1, 2);
        Tensor g = Tensor.of(new float[] {3, -4}, 1, 2);
        AdamWStep step = new AdamWStep(0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2);
        Tensor finiteLoss = Tensor.of(new float[] {2.5f}, 1, 1);
        Tensor finiteSum = Tensor.of(new float[] {25}, 1, 1);
        Tensor[][] guards = {{Tensor.of(new float[] {Float.NaN}, 1, 1), finiteSum},
                {finiteLoss, Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1, 1)},
                {Tensor.of(new float[] {Float.NEGATIVE_INFINITY}, 1, 1), null}};
        for (Tensor[] guard : guards) {
            OPS.adamw(w, g, m, v, step, guard[1], 1f, guard[0]);
            String what = "loss " + guard[0].get(0, 0) + ", sum of squares "
                    + (guard[1] == null ? "none" : guard[1].get(0, 0));
            assertArrayEquals(new float[] {1, -2}, w.toFloatArray(), what + ": param");
            assertArrayEquals(new float[] {0.5f, -0.25f}, m.toFloatArray(), what + ": expAvg");
            assertArrayEquals(new float[] {0.25f, 1}, v.toFloatArray(), what + ": expAvgSq");
        }
        // finite scalars let the update through, bit for bit the unguarded one
        Tensor[] unguarded = {w.copy(), m.copy(), v.copy()};
        OPS.adamw(unguarded[0], g, unguarded[1], unguarded[2], step, finiteSum, 1f, null);
        OPS.adamw(w, g, m, v, step, finiteSum, 1f, finiteLoss);
        assertArrayEquals(unguarded[0].toFloatArray(), w.toFloatArray());
        assertArrayEquals(unguarded[1].toFloatArray(), m.toFloatArray());
        assertArrayEquals(unguarded[2].toFloatArray(), v.toFloatArray());
        assertTrue(w.get(0, 0) != 1f, "the finite step moved the weight");
    }

    // ---- dtypes ----

    @Test
    void bf16InputsGiveTheF32ResultRoundedOnce() {
        Tensor x = GradientCheck.random(20, 2f, 2, 4).to(DType.BF16);
        Tensor gain = GradientCheck.random(21, 1f, 1, 4);
        Tensor exact = OPS.rmsNorm(x.to(DType.F32), gain, 1e-6f).y();
        Tensor rounded = OPS.rmsNorm(x, gain, 1e-6f).y();
        assertEquals(DType.BF16, rounded.dtype());
        for (int i = 0; i < exact.size(); i++) {
            assertEquals(BFloat16.round(exact.getFlat(i)), rounded.getFlat(i), "element " + i);
        }
    }

    @Test
    void zeroClearsF32AndBf16() {
        Tensor a = Tensor.of(new float[] {1, 2}, 1, 2);
        Tensor b = a.to(DType.BF16);
        OPS.zero(a);
        OPS.zero(b);
        assertArrayEquals(new float[2], a.toFloatArray());
        assertArrayEquals(new float[2], b.toFloatArray());
    }
}
