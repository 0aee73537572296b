package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.ops.ReferenceModelOpsTest;
import dev.float8j.runtime.ops.TokenIds;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Every op of {@link CpuModelOps} against {@link ReferenceModelOps} (double arithmetic) on small odd shapes.
 *
 * <p>Tolerances. F32 results: |cpu − reference| ≤ 2e-5 · (|reference| + max |reference| of the tensor). The CPU
 * ops compute in float32 (unit roundoff 6e-8) over sums of at most ~100 terms (a row of the norms, a head's dot
 * product, up to 70 keys, 37 classes) plus the vector EXP's ulp or so: a few 1e-6 relative, where cancelling
 * sums (attention's dScore = p (dP − rowDot), RMSNorm's dx) are measured against the tensor's largest element.
 * BF16 results: the F32 results above rounded once, so within that bound plus one BF16 ulp (2^-7 · |reference|)
 * when the two float results fall on either side of a rounding midpoint; and exactly equal to the CPU's own F32
 * result rounded to BF16, which is what "computes in F32 and rounds once to the output dtype" means.
 *
 * <p>The ops here split work into items of 37 elements (the default is 16,384), so that small tensors take the
 * parallel paths, on two threads.
 */
class CpuModelOpsTest {
    private static final double F32_TOLERANCE = 2e-5;
    private static final double BF16_ULP = 1.0 / 128;
    private static final CpuThreads THREADS = new CpuThreads(2);
    private static final CpuModelOps CPU = new CpuModelOps(THREADS, 37);
    private static final ModelOps REFERENCE = ReferenceModelOps.INSTANCE;

    private static Tensor random(Random random, DType dtype, double scale, int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        Tensor t = Tensor.of(values, shape);
        return dtype == DType.F32 ? t : t.to(DType.BF16);
    }

    @Test
    void rmsNormBackwardSumIsTheBackwardOfItsPartsAddedInF32() {
        Random random = new Random(41);
        Tensor x = random(random, DType.BF16, 1, 5, 70);
        Tensor gain = random(random, DType.F32, 1, 1, 70);
        Tensor[] parts = {random(random, DType.BF16, 1, 5, 70), random(random, DType.BF16, 1, 5, 70),
                random(random, DType.BF16, 1, 5, 70)};
        ReferenceModelOpsTest.assertBackwardSumIsTheBackwardOfTheF32Sum(CPU, x, gain, CPU.rmsNorm(x, gain, 1e-5f).inverseRms(),
                parts, random(random, DType.BF16, 1, 5, 70));
    }

    /** The bound of the class comment, element by element, with the same dtype and shape. */
    private static void assertClose(String what, Tensor expected, Tensor actual) {
        assertClose(what, expected, actual, 0);
    }

    /**
     * As {@link #assertClose(String, Tensor, Tensor)}, with the tensor's largest element taken to be at least
     * floor: for results that are sums of terms of order floor cancelling to much less (attention's dQ and dK at
     * seq 1 are exactly zero, sums of p (dP − rowDot) = 0 terms; RMSNorm's dx of one-element rows).
     */
    private static void assertClose(String what, Tensor expected, Tensor actual, double floor) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double max = floor;
        for (int i = 0; i < expected.size(); i++) {
            max = Math.max(max, Math.abs(expected.getFlat(i)));
        }
        double ulp = expected.dtype() == DType.BF16 ? BF16_ULP : 0;
        for (int i = 0; i < expected.size(); i++) {
            double e = expected.getFlat(i);
            double a = actual.getFlat(i);
            double bound = F32_TOLERANCE * (Math.abs(e) + max) + ulp * Math.abs(e);
            if (!(Math.abs(a - e) <= bound)) {
                fail(what + ": element " + i + " is " + a + ", the reference " + e + " (bound " + bound + ")");
            }
        }
    }

    /** A BF16 result equals the same op on the inputs' F32 values, rounded once: the rounding point is the end. */
    private static void assertRoundedOnce(String what, Tensor fromF32Inputs, Tensor fromBf16Inputs) {
        assertEquals(DType.BF16, fromBf16Inputs.dtype(), what);
        Tensor rounded = fromF32Inputs.to(DType.BF16);
        assertArrayEquals(rounded.bf16Data(), fromBf16Inputs.bf16Data(), what + ": not the F32 result rounded once");
    }

    private static Tensor f32(Tensor t) {
        return t.to(DType.F32);
    }

    // ---- embedding ----

    @Test
    void embeddingCopiesRowsExactlyAndItsBackwardAddsRepeatedIds() {
        Random random = new Random(1);
        Tensor table = random(random, DType.F32, 1, 11, 9);
        TokenIds ids = CPU.tokens(new int[] {3, 0, 10, 3, 3, 7}, 2, 3);
        for (DType out : List.of(DType.F32, DType.BF16)) {
            Tensor expected = REFERENCE.embedding(table, ids, out);
            Tensor actual = CPU.embedding(table, ids, out);
            assertEquals(out, actual.dtype());
            assertArrayEquals(expected.toFloatArray(), actual.toFloatArray(), "embedding " + out);
        }
        for (DType dtype : List.of(DType.F32, DType.BF16)) {
            Tensor dOut = random(random, dtype, 1, 6, 9);
            Tensor expected = random(new Random(2), DType.F32, 1, 11, 9);
            Tensor actual = expected.copy();
            REFERENCE.embeddingBackward(expected, ids, dOut);
            CPU.embeddingBackward(actual, ids, dOut);
            assertClose("embeddingBackward " + dtype, expected, actual);
        }
        var e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(table, CPU.tokens(new int[] {0, 11}, 1, 2), DType.F32));
        assertEquals("embedding: token 11 at position 1 is outside the vocabulary [0, 11)", e.getMessage());
    }

    // ---- RMSNorm ----

    @Test
    void rmsNormAndItsBackwardMatchTheReference() {
        Random random = new Random(3);
        for (int dim : new int[] {1, 7, 37, 130}) {
            Tensor gain = random(random, DType.F32, 1, 1, dim);
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                String at = "dim " + dim + " " + dtype;
                Tensor x = random(random, dtype, 2, 2, 5, dim);
                NormResult expected = REFERENCE.rmsNorm(x, gain, 1e-5f);
                NormResult actual = CPU.rmsNorm(x, gain, 1e-5f);
                assertClose("rmsNorm y " + at, expected.y(), actual.y());
                assertClose("rmsNorm inverseRms " + at, expected.inverseRms(), actual.inverseRms());

                Tensor dY = random(random, dtype, 1, 2, 5, dim);
                Tensor expectedGain = random(new Random(4), DType.F32, 1, 1, dim);
                Tensor actualGain = expectedGain.copy();
                Tensor expectedDx = REFERENCE.rmsNormBackward(dY, x, gain, expected.inverseRms(), expectedGain);
                Tensor actualDx = CPU.rmsNormBackward(dY, x, gain, actual.inverseRms(), actualGain);
                // dim 1: dx = inv·dy·g·(1 − xhat²) cancels to about 1e-5 of its terms, which are of order one
                assertClose("rmsNormBackward dx " + at, expectedDx, actualDx, 1);
                assertClose("rmsNormBackward gradGain " + at, expectedGain, actualGain);
                if (dtype == DType.BF16) {
                    assertRoundedOnce("rmsNorm " + at, CPU.rmsNorm(f32(x), gain, 1e-5f).y(), actual.y());
                    assertRoundedOnce("rmsNormBackward " + at, CPU.rmsNormBackward(f32(dY), f32(x), gain,
                            actual.inverseRms(), Tensor.zeros(DType.F32, 1, dim)), actualDx);
                }
            }
        }
    }

    // ---- rope ----

    @Test
    void ropeAndItsInverseMatchTheReference() {
        Random random = new Random(5);
        for (int headDim : new int[] {2, 10, 40}) {
            AttentionShape shape = new AttentionShape(2, 5, 3, 3, headDim);
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                Tensor x = random(random, dtype, 1, 10, 3 * headDim);
                for (boolean inverse : new boolean[] {false, true}) {
                    String at = "headDim " + headDim + " " + dtype + (inverse ? " inverse" : "");
                    Tensor actual = CPU.rope(x, shape, 3, 10_000f, inverse);
                    assertClose("rope " + at, REFERENCE.rope(x, shape, 3, 10_000f, inverse), actual);
                    if (dtype == DType.BF16) {
                        assertRoundedOnce("rope " + at, CPU.rope(f32(x), shape, 3, 10_000f, inverse), actual);
                    }
                }
            }
        }
    }

    // ---- attention ----

    @Test
    void attentionAndItsBackwardMatchTheReference() {
        Random random = new Random(6);
        // GQA 1:1 and 4:1; seq 1, under one key tile, and across key and query tiles (70 = 64 + 6 = 2·32 + 6);
        // headDims on whole vectors and with scalar tails
        int[][] shapes = {{2, 1, 2, 2, 6}, {2, 7, 4, 1, 10}, {1, 70, 2, 2, 16}, {2, 70, 4, 1, 6}, {1, 9, 8, 2, 2}};
        for (int[] s : shapes) {
            AttentionShape shape = new AttentionShape(s[0], s[1], s[2], s[3], s[4]);
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                String at = shape + " " + dtype;
                Tensor q = random(random, dtype, 1, shape.tokens(), shape.heads() * shape.headDim());
                Tensor k = random(random, dtype, 1, shape.tokens(), shape.kvHeads() * shape.headDim());
                Tensor v = random(random, dtype, 1, shape.tokens(), shape.kvHeads() * shape.headDim());
                AttentionResult expected = REFERENCE.attention(q, k, v, shape);
                AttentionResult actual = CPU.attention(q, k, v, shape);
                assertClose("attention out " + at, expected.out(), actual.out());
                assertClose("attention logSumExp " + at, expected.logSumExp(), actual.logSumExp());

                Tensor dOut = random(random, dtype, 1, shape.tokens(), shape.heads() * shape.headDim());
                // both backwards from the reference's forward, so that they differ by their own arithmetic only
                AttentionGrads expectedGrads = REFERENCE.attentionBackward(dOut, q, k, v, expected, shape);
                AttentionGrads actualGrads = CPU.attentionBackward(dOut, q, k, v, expected, shape);
                // unit-scale inputs: the terms of dQ and dK are of order one
                assertClose("attention dQ " + at, expectedGrads.dQ(), actualGrads.dQ(), 1);
                assertClose("attention dK " + at, expectedGrads.dK(), actualGrads.dK(), 1);
                assertClose("attention dV " + at, expectedGrads.dV(), actualGrads.dV());
                if (dtype == DType.BF16) {
                    AttentionResult fromF32 = CPU.attention(f32(q), f32(k), f32(v), shape);
                    assertRoundedOnce("attention " + at, fromF32.out(), actual.out());
                    AttentionResult savedAsF32 = new AttentionResult(f32(expected.out()), expected.logSumExp());
                    AttentionGrads gradsFromF32 = CPU.attentionBackward(f32(dOut), f32(q), f32(k), f32(v), savedAsF32,
                            shape);
                    assertRoundedOnce("attention dQ " + at, gradsFromF32.dQ(), actualGrads.dQ());
                    assertRoundedOnce("attention dK " + at, gradsFromF32.dK(), actualGrads.dK());
                    assertRoundedOnce("attention dV " + at, gradsFromF32.dV(), actualGrads.dV());
                }
            }
        }
    }

    @Test
    void attentionRefusesKeysOfTheWrongWidthAsTheReferenceDoes() {
        AttentionShape shape = new AttentionShape(1, 3, 4, 2, 2);
        Tensor q = Tensor.zeros(DType.F32, 3, 8);
        Tensor k = Tensor.zeros(DType.F32, 3, 8);
        String expected = assertThrows(IllegalArgumentException.class, () -> REFERENCE.attention(q, k, k, shape))
                .getMessage();
        assertEquals(expected, assertThrows(IllegalArgumentException.class, () -> CPU.attention(q, k, k, shape))
                .getMessage());
    }

    // ---- SwiGLU, add ----

    @Test
    void swigluAndItsBackwardMatchTheReference() {
        Random random = new Random(7);
        for (DType dtype : List.of(DType.F32, DType.BF16)) {
            Tensor gate = random(random, dtype, 3, 7, 19);
            Tensor up = random(random, dtype, 1, 7, 19);
            Tensor dH = random(random, dtype, 1, 7, 19);
            Tensor actual = CPU.swiglu(gate, up);
            assertClose("swiglu " + dtype, REFERENCE.swiglu(gate, up), actual);
            Tensor[] expectedGrads = REFERENCE.swigluBackward(dH, gate, up);
            Tensor[] actualGrads = CPU.swigluBackward(dH, gate, up);
            assertClose("swiglu dGate " + dtype, expectedGrads[0], actualGrads[0]);
            assertClose("swiglu dUp " + dtype, expectedGrads[1], actualGrads[1]);
            if (dtype == DType.BF16) {
                assertRoundedOnce("swiglu", CPU.swiglu(f32(gate), f32(up)), actual);
                Tensor[] fromF32 = CPU.swigluBackward(f32(dH), f32(gate), f32(up));
                assertRoundedOnce("swiglu dGate", fromF32[0], actualGrads[0]);
                assertRoundedOnce("swiglu dUp", fromF32[1], actualGrads[1]);
            }
        }
    }

    @Test
    void addKeepsTheFirstDtypeAndMatchesTheReference() {
        Random random = new Random(8);
        for (DType first : List.of(DType.F32, DType.BF16)) {
            for (DType second : List.of(DType.F32, DType.BF16)) {
                Tensor a = random(random, first, 1, 5, 23);
                Tensor b = random(random, second, 1, 5, 23);
                Tensor actual = CPU.add(a, b);
                assertClose("add " + first + " + " + second, REFERENCE.add(a, b), actual);
                if (first == DType.BF16) {
                    assertRoundedOnce("add", CPU.add(f32(a), f32(b)), actual);
                }
            }
        }
    }

    // ---- loss ----

    @Test
    void crossEntropyMatchesTheReference() {
        Random random = new Random(9);
        for (int classes : new int[] {2, 37, 300}) {
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                Tensor logits = random(random, dtype, 3, 14, classes);
                int[] targets = new int[14];
                for (int i = 0; i < targets.length; i++) {
                    targets[i] = random.nextInt(classes);
                }
                TokenIds ids = CPU.tokens(targets, 2, 7);
                LossResult expected = REFERENCE.crossEntropy(logits, ids);
                LossResult actual = CPU.crossEntropy(logits, ids);
                String at = classes + " classes " + dtype;
                assertClose("loss " + at, expected.loss(), actual.loss());
                assertClose("dLogits " + at, expected.dLogits(), actual.dLogits());
                if (dtype == DType.BF16) {
                    assertRoundedOnce("dLogits " + at, CPU.crossEntropy(f32(logits), ids).dLogits(), actual.dLogits());
                }
            }
        }
    }

    // ---- optimizer ----

    @Test
    void sumOfSquaresMatchesTheReference() {
        Random random = new Random(10);
        List<Tensor> tensors = List.of(random(random, DType.F32, 1, 3, 41), random(random, DType.BF16, 2, 1, 1),
                random(random, DType.F32, 0.1, 1, 200), random(random, DType.BF16, 1, 7, 5));
        assertClose("sumOfSquares", REFERENCE.sumOfSquares(tensors), CPU.sumOfSquares(tensors));
    }

    @Test
    void adamwMatchesTheReferenceOverSeveralStepsWithAndWithoutClipping() {
        for (boolean clipped : new boolean[] {false, true}) {
            Random random = new Random(11);
            Tensor param = random(random, DType.F32, 1, 13, 17);
            Tensor[] expected = {param, Tensor.zeros(DType.F32, 13, 17), Tensor.zeros(DType.F32, 13, 17)};
            Tensor[] actual = {param.copy(), Tensor.zeros(DType.F32, 13, 17), Tensor.zeros(DType.F32, 13, 17)};
            for (int step = 1; step <= 3; step++) {
                Tensor grad = random(random, DType.F32, 1, 13, 17);
                Tensor sumOfSquares = clipped ? REFERENCE.sumOfSquares(List.of(grad)) : null;
                AdamWStep hyper = new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                REFERENCE.adamw(expected[0], grad, expected[1], expected[2], hyper, sumOfSquares, 1f, null);
                CPU.adamw(actual[0], grad, actual[1], actual[2], hyper, sumOfSquares, 1f, null);
            }
            String at = clipped ? " (clipped)" : "";
            assertClose("adamw param" + at, expected[0], actual[0]);
            assertClose("adamw expAvg" + at, expected[1], actual[1]);
            assertClose("adamw expAvgSq" + at, expected[2], actual[2]);
        }
    }

    @Test
    void aGuardedAdamwWritesNothingOnANonFiniteLossOrSumOfSquares() {
        Random random = new Random(12);
        // 13 x 17 elements: the vector loop and its tail, over several work items
        Tensor[] state = {random(random, DType.F32, 1, 13, 17), random(random, DType.F32, 0.1, 13, 17),
                random(random, DType.F32, 0.01, 13, 17)};
        for (int i = 0; i < state[2].size(); i++) {
            state[2].data()[i] = Math.abs(state[2].data()[i]);  // second moments are not negative
        }
        float[][] before = {state[0].toFloatArray().clone(), state[1].toFloatArray().clone(),
                state[2].toFloatArray().clone()};
        Tensor grad = random(random, DType.F32, 1, 13, 17);
        AdamWStep hyper = new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 4);
        Tensor finiteLoss = Tensor.of(new float[] {3.25f}, 1, 1);
        Tensor finiteSum = CPU.sumOfSquares(List.of(grad));
        Tensor[][] guards = {{Tensor.of(new float[] {Float.NaN}, 1, 1), finiteSum},
                {finiteLoss, Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1, 1)},
                {Tensor.of(new float[] {Float.NaN}, 1, 1), null}};
        for (Tensor[] guard : guards) {
            CPU.adamw(state[0], grad, state[1], state[2], hyper, guard[1], 1f, guard[0]);
            String what = "loss " + guard[0].get(0, 0) + ", sum of squares "
                    + (guard[1] == null ? "none" : guard[1].get(0, 0));
            assertArrayEquals(before[0], state[0].toFloatArray(), what + ": param");
            assertArrayEquals(before[1], state[1].toFloatArray(), what + ": expAvg");
            assertArrayEquals(before[2], state[2].toFloatArray(), what + ": expAvgSq");
        }
        // finite scalars let the update through, bit for bit the unguarded one
        Tensor[] unguarded = {state[0].copy(), state[1].copy(), state[2].copy()};
        CPU.adamw(unguarded[0], grad, unguarded[1], unguarded[2], hyper, finiteSum, 1f, null);
        CPU.adamw(state[0], grad, state[1], state[2], hyper, finiteSum, 1f, finiteLoss);
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(unguarded[i].toFloatArray(), state[i].toFloatArray(), "finite guard, tensor " + i);
        }
        assertFalse(Arrays.equals(before[0], state[0].toFloatArray()), "a finite guard lets the update move the weights");
    }

    @Test
    void zeroClearsF32AndBf16() {
        Tensor a = Tensor.of(new float[] {1, 2, 3}, 1, 3);
        Tensor b = a.to(DType.BF16);
        CPU.zero(a);
        CPU.zero(b);
        assertArrayEquals(new float[3], a.toFloatArray());
        assertArrayEquals(new short[3], b.bf16Data());
    }

    // ---- threads ----

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        CpuModelOps one = new CpuModelOps(new CpuThreads(1), 37);
        CpuModelOps three = new CpuModelOps(new CpuThreads(3), 37);
        Random random = new Random(12);
        AttentionShape shape = new AttentionShape(2, 70, 4, 2, 8);
        Tensor q = random(random, DType.F32, 1, shape.tokens(), 32);
        Tensor k = random(random, DType.F32, 1, shape.tokens(), 16);
        Tensor v = random(random, DType.F32, 1, shape.tokens(), 16);
        Tensor x = random(random, DType.F32, 1, 140, 32);
        Tensor gain = random(random, DType.F32, 1, 1, 32);
        Function<CpuModelOps, float[]> run = ops -> {
            AttentionResult r = ops.attention(q, k, v, shape);
            AttentionGrads g = ops.attentionBackward(q, q, k, v, r, shape);
            Tensor gradGain = Tensor.zeros(DType.F32, 1, 32);
            NormResult n = ops.rmsNorm(x, gain, 1e-5f);
            Tensor dx = ops.rmsNormBackward(n.y(), x, gain, n.inverseRms(), gradGain);
            float sum = ops.sumOfSquares(List.of(dx, r.out(), g.dQ(), g.dK(), g.dV())).data()[0];
            return new float[] {sum, gradGain.data()[0], gradGain.data()[31], r.logSumExp().data()[139]};
        };
        assertArrayEquals(run.apply(one), run.apply(three));
    }

    @Test
    void theCpuBackendRunsTheseOpsOnHostTensors() {
        CpuBackend backend = new CpuBackend(1);
        assertSame(backend.ops(), backend.hostOps());
        assertEquals(CpuModelOps.class, backend.ops().getClass());
        assertSame(ReferenceModelOps.INSTANCE, new dev.float8j.runtime.backend.ReferenceBackend().ops());
    }
}
