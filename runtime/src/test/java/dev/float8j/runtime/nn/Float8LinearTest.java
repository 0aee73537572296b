package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.annotations.Backward;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.debug.Float8Debug;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class Float8LinearTest {
    static final int IN = 40;
    static final int OUT = 24;
    static final int ROWS = 6;

    @AfterEach
    void clearSwitches() {
        Float8Debug.clearSwitches();
    }

    static Tensor input(long seed) {
        Init.seed(seed);
        return Tensor.of(Init.normal(2 * ROWS * IN, 1f), 2, ROWS, IN);
    }

    static Tensor gradOutput(long seed) {
        Init.seed(seed);
        return Tensor.of(Init.normal(2 * ROWS * OUT, 0.01f), 2, ROWS, OUT);
    }

    /** The same initial weight as a Linear built with the same seed. */
    static <L extends Linear> L seeded(java.util.function.Supplier<L> make) {
        Init.seed(7);
        return make.get();
    }

    static List<Float8Plan> plans() {
        return List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.rowwiseGradWeightHighPrecision(),
                Float8Plan.blockwise(), Float8Plan.mx(), Float8Plan.rowwise().withBackward(Backward.REQUANTIZE),
                Float8Plan.rowwise().withBackward(Backward.BOTH_AXES), Float8Plan.blockwise().withBackward(Backward.BOTH_AXES));
    }

    @Test
    void everyPlanStaysCloseToHighPrecision() {
        for (Float8Plan plan : plans()) {
            Linear hp = seeded(() -> new Linear(IN, OUT));
            Float8Linear fp8 = seeded(() -> new Float8Linear(IN, OUT, plan));
            Tensor x = input(1);
            Tensor dy = gradOutput(2);
            assertClose(hp.forward(x), fp8.forward(x), 0.08, plan + " output");
            assertClose(hp.backward(dy), fp8.backward(dy), 0.08, plan + " grad_input");
            assertClose(hp.weight().grad(), fp8.weight().grad(), 0.08, plan + " grad_weight");
        }
    }

    @Test
    void savesWhatThePolicySays() {
        Tensor x = input(1);
        long fp8Copy = x.size(); // one byte per element, plus scales
        Float8Linear keep = new Float8Linear(IN, OUT, Float8Plan.rowwise());
        keep.forward(x);
        assertEquals(x.bytes(), keep.savedBytes());
        Float8Linear requantize = new Float8Linear(IN, OUT, Float8Plan.rowwise().withBackward(Backward.REQUANTIZE));
        requantize.forward(x);
        assertEquals(fp8Copy + 4L * 2 * ROWS, requantize.savedBytes(), "codes plus one scale per row along K");
        Float8Linear both = new Float8Linear(IN, OUT, Float8Plan.rowwise().withBackward(Backward.BOTH_AXES));
        both.forward(x);
        assertEquals(fp8Copy + 4L * IN, both.savedBytes(), "codes plus one scale per column along M");
        Float8Linear tensorwise = new Float8Linear(IN, OUT, Float8Plan.tensorwise());
        tensorwise.forward(x);
        tensorwise.forward(x);
        assertEquals(2 * (fp8Copy + 4), tensorwise.savedBytes(), "transposeable: the forward copy, twice");
        tensorwise.backward(gradOutput(2));
        assertEquals(fp8Copy + 4, tensorwise.savedBytes());
    }

    @Test
    void switchedOffGemmsRunInHighPrecision() {
        Float8Debug.switchOff("*", null);
        for (Float8Plan plan : plans()) {
            Linear hp = seeded(() -> new Linear(IN, OUT));
            Float8Linear fp8 = seeded(() -> new Float8Linear(IN, OUT, plan));
            Tensor x = input(1);
            Tensor dy = gradOutput(2);
            assertArrayEquals(hp.forward(x).data(), fp8.forward(x).data());
            assertArrayEquals(hp.backward(dy).data(), fp8.backward(dy).data());
            assertArrayEquals(hp.weight().grad().data(), fp8.weight().grad().data());
        }
    }

    @Test
    void highPrecisionGemmMatchesLinearBitForBit() {
        Float8Plan plan = Float8Plan.rowwise().withBackward(Backward.REQUANTIZE);
        Float8Debug.switchOff("*", Gemm.GRAD_INPUT);
        Linear hp = seeded(() -> new Linear(IN, OUT));
        Float8Linear fp8 = seeded(() -> new Float8Linear(IN, OUT, plan));
        Tensor x = input(1);
        hp.forward(x);
        fp8.forward(x);
        Tensor dy = gradOutput(2);
        assertArrayEquals(hp.backward(dy).data(), fp8.backward(dy).data());
    }

    @Test
    void mixingFp8AndHighPrecisionOperandsIsRejected() {
        Float8Plan rowwise = Float8Plan.rowwise();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GemmPlan(Gemm.OUTPUT, rowwise.output().first(), null));
        assertTrue(e.getMessage().contains("quantizes its input but not its weight"), e.getMessage());
    }

    @Test
    void appliedTwiceDifferentiatesInReverseOrder() {
        Float8Plan plan = Float8Plan.rowwise().withBackward(Backward.BOTH_AXES);
        Linear hp = seeded(() -> new Linear(IN, OUT));
        Float8Linear fp8 = seeded(() -> new Float8Linear(IN, OUT, plan));
        Tensor x1 = input(1);
        Tensor x2 = input(3);
        hp.forward(x1);
        hp.forward(x2);
        fp8.forward(x1);
        fp8.forward(x2);
        assertClose(hp.backward(gradOutput(2)), fp8.backward(gradOutput(2)), 0.08, "second application");
        assertClose(hp.backward(gradOutput(4)), fp8.backward(gradOutput(4)), 0.08, "first application");
    }

    /**
     * BF16 activations stay BF16: y and dX come back in BF16, each element the F32 run's (on the same values)
     * rounded to nearest even, and dW accumulates in F32 exactly as in the F32 run. Every plan and the plain layer.
     */
    @Test
    void bf16InputGivesBf16OutputsRoundedFromTheF32Results() {
        Tensor x32 = input(1).to(DType.BF16).to(DType.F32); // values a BF16 tensor holds exactly
        Tensor dy32 = gradOutput(2).to(DType.BF16).to(DType.F32);
        List<java.util.function.Supplier<Linear>> layers = new java.util.ArrayList<>();
        layers.add(() -> new Linear(IN, OUT));
        for (Float8Plan plan : plans()) {
            layers.add(() -> new Float8Linear(IN, OUT, plan));
        }
        for (java.util.function.Supplier<Linear> make : layers) {
            Linear f32 = seeded(make);
            Linear bf16 = seeded(make);
            Tensor y32 = f32.forward(x32);
            Tensor dx32 = f32.backward(dy32);
            Tensor y16 = bf16.forward(x32.to(DType.BF16));
            Tensor dx16 = bf16.backward(dy32.to(DType.BF16));
            String what = bf16.toString();
            assertEquals(DType.BF16, y16.dtype(), what + " y");
            assertEquals(DType.BF16, dx16.dtype(), what + " dX");
            assertArrayEquals(x32.shape(), dx16.shape(), what + " dX shape");
            for (int i = 0; i < y32.size(); i++) {
                assertEquals(BFloat16.fromFloat(y32.getFlat(i)), y16.bf16Data()[i], what + " y element " + i);
            }
            for (int i = 0; i < dx32.size(); i++) {
                assertEquals(BFloat16.fromFloat(dx32.getFlat(i)), dx16.bf16Data()[i], what + " dX element " + i);
            }
            assertEquals(DType.F32, bf16.weight().grad().dtype());
            assertArrayEquals(f32.weight().grad().data(), bf16.weight().grad().data(), what + " dW");
        }
    }

    /** Relative error in the Frobenius norm: ||a - b|| / ||a||. */
    static void assertClose(Tensor expected, Tensor actual, double tolerance, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.size(); i++) {
            double d = expected.getFlat(i) - actual.getFlat(i);
            diff += d * d;
            norm += (double) expected.getFlat(i) * expected.getFlat(i);
        }
        double rel = Math.sqrt(diff / norm);
        assertTrue(rel < tolerance, what + ": relative error " + rel);
    }
}
