package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.CastAssertions.assertSameCast;
import static dev.float8j.runtime.cuda.GaussianTensors.gaussian;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.quant.AmaxHistory;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Delayed scaling on the GPU, its amax history in device memory, against the reference backend's host history, cast
 * by cast: the same codes and scales bit for bit while the input's amax grows (values saturate), shrinks and grows
 * again. Both axes (the flat kernel along 1, the tiled one along 0), F32 and BF16, an unpadded and a padded shape,
 * both reductions; an amax left pending by a call that failed is not recorded; a NaN is reported; a layer under
 * {@code tensorwise_delayed} matches the reference's over several steps.
 */
class CudaDelayedScalingTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    /** Each cast's input scale: the second saturates (4x the first's range), then smaller, then larger again. */
    private static final double[] STEP_SCALES = {1, 4, 0.5, 0.25, 8, 1};

    private CudaBackend cuda;
    private Backend previous;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        previous = Backends.current();
    }

    @AfterEach
    void restoreBackend() {
        if (previous != null) {
            Backends.use(previous);
        }
    }

    private static QuantSpec spec(int axis, DelayedScaling scaling) {
        return QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, axis).withDelayedScaling(scaling);
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (DType dtype : DType.values()) {
            for (int axis : new int[] {1, 0}) {
                for (int[] shape : new int[][] {{64, 256}, {33, 70}, {128, 384}}) {  // the last: whole tiles
                    for (DelayedScaling scaling : List.of(DelayedScaling.maxOfLast(16),
                            new DelayedScaling(2, DelayedScaling.AmaxReduction.MOST_RECENT))) {
                        cases.add(Arguments.of(dtype, axis, shape[0], shape[1], scaling));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void castsMatchTheReferenceCastByCast(DType dtype, int axis, int rows, int cols, DelayedScaling scaling) {
        QuantSpec spec = spec(axis, scaling);
        AmaxHistory onGpu = cuda.newAmaxHistory(scaling);
        AmaxHistory onHost = REF.newAmaxHistory(scaling);
        for (int step = 0; step < STEP_SCALES.length; step++) {
            Tensor x = gaussian(100 + step, STEP_SCALES[step], dtype, rows, cols);
            Float8Tensor expected = REF.quantizeDelayed(x, spec, onHost);
            Float8Tensor actual = cuda.quantizeDelayed(cuda.toDevice(x), spec, onGpu);
            String what = dtype + " along " + axis + " " + rows + "x" + cols + " " + scaling + " cast " + step;
            assertSameCast(cuda, expected, actual, what);
            if (step == 1) {
                assertTrue(saturated(expected) > 0, what + ": the grown input saturates under the old scale");
            }
            onHost.commit();
            onGpu.commit();
        }
    }

    /** Both axes in one pass from one history, E4M3 along 1 and E5M2 along 0, against the reference's. */
    @ParameterizedTest
    @MethodSource("cases")
    void bothAxesFromOneHistoryMatchTheReference(DType dtype, int axis, int rows, int cols, DelayedScaling scaling) {
        if (axis == 0) {
            return;  // both axes at once: the axis of the case does not apply
        }
        QuantSpec columns = spec(1, scaling);
        QuantSpec alongRows = QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.TENSORWISE, 0).withDelayedScaling(scaling);
        AmaxHistory onGpu = cuda.newAmaxHistory(scaling);
        AmaxHistory onHost = REF.newAmaxHistory(scaling);
        for (int step = 0; step < STEP_SCALES.length; step++) {
            Tensor x = gaussian(150 + step, STEP_SCALES[step], dtype, rows, cols);
            Float8Tensor[] expected = REF.quantizeBothAxesDelayed(x, columns, alongRows, onHost);
            Float8Tensor[] actual = cuda.quantizeBothAxesDelayed(cuda.toDevice(x), columns, alongRows, onGpu);
            String what = dtype + " " + rows + "x" + cols + " " + scaling + " cast " + step;
            assertSameCast(cuda, expected[0], actual[0], what + " along 1");
            assertSameCast(cuda, expected[1], actual[1], what + " along 0");
            onHost.commit();
            onGpu.commit();
        }
    }

    private static int saturated(Float8Tensor q) {
        int count = 0;
        for (byte code : q.codes()) {
            if ((code & 0x7F) == 0x7E) {  // +-448, E4M3FN's largest finite code
                count++;
            }
        }
        return count;
    }

    @Test
    void aHostInputIsCastOnTheGpuWithTheDeviceHistory() {
        DelayedScaling scaling = DelayedScaling.maxOfLast(4);
        QuantSpec spec = spec(1, scaling);
        AmaxHistory onGpu = cuda.newAmaxHistory(scaling);
        AmaxHistory onHost = REF.newAmaxHistory(scaling);
        for (int step = 0; step < 3; step++) {
            Tensor x = gaussian(200 + step, STEP_SCALES[step], DType.F32, 48, 96);
            Float8Tensor expected = REF.quantizeDelayed(x, spec, onHost);
            Float8Tensor actual = cuda.quantizeDelayed(x, spec, onGpu);
            assertTrue(!actual.isOnDevice(), "a host input's cast comes back to the host");
            assertSameCast(cuda, expected, actual, "host input, cast " + step);
            onHost.commit();
            onGpu.commit();
        }
    }

    @Test
    void anAmaxLeftPendingIsNotRecordedAndCommitsOnce() {
        DelayedScaling scaling = DelayedScaling.maxOfLast(8);
        QuantSpec spec = spec(1, scaling);
        AmaxHistory onGpu = cuda.newAmaxHistory(scaling);
        AmaxHistory onHost = REF.newAmaxHistory(scaling);
        Tensor first = gaussian(300, 1, DType.BF16, 32, 128);
        REF.quantizeDelayed(first, spec, onHost);
        cuda.quantizeDelayed(cuda.toDevice(first), spec, onGpu);
        onHost.commit();
        onGpu.commit();
        assertThrows(IllegalStateException.class, onGpu::commit, "the pending amax was recorded once");
        // a cast of a far larger tensor whose call then failed: its amax stays pending and the next cast replaces it
        cuda.quantizeDelayed(cuda.toDevice(gaussian(301, 100, DType.BF16, 32, 128)), spec, onGpu);
        Tensor next = gaussian(302, 1, DType.BF16, 32, 128);
        Float8Tensor expected = REF.quantizeDelayed(next, spec, onHost);
        Float8Tensor actual = cuda.quantizeDelayed(cuda.toDevice(next), spec, onGpu);
        assertSameCast(cuda, expected, actual, "the cast after an uncommitted one");
    }

    @Test
    void aNanInTheInputIsReportedThoughTheScaleCameFromEarlierCasts() {
        DelayedScaling scaling = DelayedScaling.maxOfLast(4);
        for (int axis : new int[] {1, 0}) {
            QuantSpec spec = spec(axis, scaling);
            AmaxHistory onGpu = cuda.newAmaxHistory(scaling);
            cuda.release(cuda.quantizeDelayed(cuda.toDevice(gaussian(400, 1, DType.BF16, 64, 256)), spec, onGpu));
            onGpu.commit();
            cuda.synchronize();
            Tensor x = gaussian(401, 1, DType.BF16, 64, 256);
            x.set(7, 11, Float.NaN);
            cuda.release(cuda.quantizeDelayed(cuda.toDevice(x), spec, onGpu));
            assertThrows(NonFiniteException.class, cuda::synchronize, "along " + axis);
        }
    }

    @Test
    void aHistoryOfAnotherBackendIsRefusedAndALayerMovedToTheGpuStartsAfresh() {
        DelayedScaling scaling = DelayedScaling.maxOfLast(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cuda.quantizeDelayed(gaussian(500, 1, DType.F32, 16, 32), spec(1, scaling),
                        REF.newAmaxHistory(scaling)));
        assertTrue(e.getMessage().contains("newAmaxHistory"), e.getMessage());
        assertTrue(!cuda.canUse(REF.newAmaxHistory(scaling)) && cuda.canUse(cuda.newAmaxHistory(scaling)));
    }

    /**
     * Same weights, same inputs, four steps: the FP8 codes are the reference's (the cast tests above), and the gemms
     * differ as any GPU FP8 gemm does from the reference's F32 sums, within CudaBiasTest's 2e-3. (On an H100 the first
     * step, where delayed scaling equals current scaling, differed by 3.3e-4 of y's largest magnitude.)
     */
    @Test
    void aDelayedLayerOnTheGpuMatchesTheReferenceStepByStep() {
        int m = 64;
        int k = 256;
        int n = 96;
        Float8Plan plan = Float8Recipes.named("tensorwise_delayed");
        Backends.use(REF);
        Init.seed(7);
        Linear onHost = new Float8Linear(k, n, plan);
        Backends.use(cuda);
        Init.seed(7);
        Linear onGpu = new Float8Linear(k, n, plan);
        onGpu.moveTo(cuda);
        for (int step = 0; step < 4; step++) {
            Tensor x = gaussian(600 + step, STEP_SCALES[step], DType.F32, m, k);
            Tensor dy = gaussian(700 + step, 0.01 * STEP_SCALES[step], DType.F32, m, n);
            Backends.use(REF);
            Tensor y = onHost.forward(x);
            Tensor dx = onHost.backward(dy);
            Backends.use(cuda);
            Tensor yGpu = cuda.toHost(onGpu.forward(cuda.toDevice(x)));
            Tensor dxGpu = cuda.toHost(onGpu.backward(cuda.toDevice(dy)));
            assertTrue(MaxRelativeError.of(y, yGpu) < 2e-3, "y at step " + step + ": " + MaxRelativeError.of(y, yGpu));
            assertTrue(MaxRelativeError.of(dx, dxGpu) < 2e-3, "dX at step " + step);
            assertTrue(MaxRelativeError.of(onHost.weight().grad(), cuda.toHost(onGpu.weight().grad())) < 2e-3,
                    "dW at step " + step);
        }
    }
}
