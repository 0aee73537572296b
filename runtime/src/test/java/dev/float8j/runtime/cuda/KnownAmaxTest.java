package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.CastAssertions.assertSameCast;
import static dev.float8j.runtime.cuda.GaussianTensors.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The absolute maxima that the model ops' kernels report for their results, which a tensorwise FP8 cast reads instead
 * of its own pass over the tensor: each equals the largest |value| of the downloaded result exactly, a cast that uses
 * it gives the same codes and scale as a cast of the same values without it, an in-place write drops it, and NaN in
 * a result still stops the cast. Skips without a GPU.
 */
class KnownAmaxTest {
    private static final QuantSpec TENSORWISE = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);

    private CudaBackend cuda;
    private ModelOps ops;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        ops = cuda.ops();
    }

    /** The largest |value| of t, from its downloaded values. */
    private float hostAmax(Tensor t) {
        float max = 0;
        for (float v : cuda.toHost(t).toFloatArray()) {
            max = Math.max(max, Math.abs(v));
        }
        return max;
    }

    /** The amax t's producer reported, read from its device word. */
    private float reportedAmax(Tensor t, String what) {
        DeviceBuffer word = ProducerMaxima.knownAmax(t);
        assertNotNull(word, what + " reports no amax");
        return DeviceWords.floats(cuda, word.pointer(), 1)[0];
    }

    /**
     * t's reported amax is its largest |value|, and its tensorwise casts (along 1, and along both axes) equal those of
     * a fresh copy of its values, which has no reported amax.
     */
    private void assertReportedAndUsed(Tensor t, String what) {
        assertEquals(hostAmax(t), reportedAmax(t, what), 0f, what + ": reported amax");
        Tensor fresh = cuda.toDevice(cuda.toHost(t));
        assertNull(ProducerMaxima.knownAmax(fresh));
        assertSameCast(cuda, cuda.quantize(fresh, TENSORWISE), cuda.quantize(t, TENSORWISE), what + " along 1");
        Float8Tensor[] expected = cuda.quantizeBothAxes(fresh, TENSORWISE, TENSORWISE.withAxis(0));
        Float8Tensor[] actual = cuda.quantizeBothAxes(t, TENSORWISE, TENSORWISE.withAxis(0));
        assertSameCast(cuda, expected[0], actual[0], what + " both axes, along 1");
        assertSameCast(cuda, expected[1], actual[1], what + " both axes, along 0");
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void everyProducerReportsItsResultsAmaxAndTheCastUsesIt(DType dtype) {
        // rows of 3076 are held in registers, rows of 98 go element by element; 1100 rows loop over the blocks
        for (int dim : new int[] {3076, 98}) {
            Tensor x = cuda.toDevice(gaussian(1, 3, dtype, 1100, dim));
            Tensor gain = cuda.toDevice(gaussian(2, 1, DType.F32, 1, dim));
            NormResult n = ops.rmsNorm(x, gain, 1e-5f);
            assertReportedAndUsed(n.y(), "rmsNorm y, dim " + dim);
            Tensor branch = cuda.toDevice(gaussian(9, 1, dtype, 1100, dim));
            assertReportedAndUsed(ops.addRmsNorm(x, branch, gain, 1e-5f).norm().y(), "addRmsNorm y, dim " + dim);
            Tensor dY = cuda.toDevice(gaussian(3, 0.01, dtype, 1100, dim));
            Tensor gradGain = cuda.toDevice(Tensor.zeros(DType.F32, 1, dim));
            assertReportedAndUsed(ops.rmsNormBackward(dY, x, gain, n.inverseRms(), gradGain), "rmsNorm dX, dim " + dim);
            Tensor residual = cuda.toDevice(gaussian(4, 0.02, dtype, 1100, dim));
            assertReportedAndUsed(ops.rmsNormBackwardAdd(residual, dY, x, gain, n.inverseRms(), gradGain),
                    "rmsNorm residual + dX, dim " + dim);
        }
        // 33 x 77 leaves a tail after the four-wide loop; 256 x 384 is covered by whole 128 x 128 tiles, which its
        // casts along both axes take
        for (int[] shape : new int[][] {{33, 77}, {256, 384}}) {
            String at = " at " + shape[0] + " x " + shape[1];
            Tensor gate = cuda.toDevice(gaussian(5, 2, dtype, shape[0], shape[1]));
            Tensor up = cuda.toDevice(gaussian(6, 2, dtype, shape[0], shape[1]));
            assertReportedAndUsed(ops.swiglu(gate, up), "swiglu" + at);
            Tensor[] d = ops.swigluBackward(cuda.toDevice(gaussian(7, 0.1, dtype, shape[0], shape[1])), gate, up);
            assertReportedAndUsed(d[0], "swiglu dGate" + at);
            assertReportedAndUsed(d[1], "swiglu dUp" + at);
        }
        for (int headDim : new int[] {10, 128}) {
            AttentionShape shape = new AttentionShape(2, 7, 3, 1, headDim);
            Tensor g = cuda.toDevice(gaussian(8, 0.5, dtype, shape.tokens(), 3 * headDim));
            assertReportedAndUsed(ops.rope(g, shape, 3, 10000f, true), "rope inverse, head dim " + headDim);
        }
        // the backward through the rotary embedding: dQ turned back as the accumulator is rounded, dK by rope
        for (int headDim : new int[] {64, 128}) {
            AttentionShape shape = new AttentionShape(2, 70, 4, 2, headDim);
            int qCols = 4 * headDim;
            int kvCols = 2 * headDim;
            Tensor q = cuda.toDevice(gaussian(10, 1, dtype, shape.tokens(), qCols));
            Tensor k = cuda.toDevice(gaussian(11, 1, dtype, shape.tokens(), kvCols));
            Tensor v = cuda.toDevice(gaussian(12, 1, dtype, shape.tokens(), kvCols));
            AttentionResult forward = ops.attention(q, k, v, shape);
            if (dtype == DType.BF16) {
                // the kernels write BF16 outputs with their amax; F32 attention converts its output back without one
                assertReportedAndUsed(forward.out(), "attention out, head dim " + headDim);
            }
            Tensor dOut = cuda.toDevice(gaussian(13, 1, dtype, shape.tokens(), qCols));
            AttentionGrads g = ops.attentionBackwardUnrotated(dOut, q, k, v, forward, shape, 10000f);
            assertReportedAndUsed(g.dQ(), "attention dQ before the rotary embedding, head dim " + headDim);
            assertReportedAndUsed(g.dK(), "attention dK before the rotary embedding, head dim " + headDim);
        }
    }

    @Test
    void adamwReportsTheUpdatedWeightsAmax() {
        Tensor[] state = {gaussian(9, 1, DType.F32, 19, 24), gaussian(10, 1, DType.F32, 19, 24),
                Tensor.zeros(DType.F32, 19, 24), Tensor.zeros(DType.F32, 19, 24)};
        Tensor[] device = new Tensor[4];
        for (int i = 0; i < 4; i++) {
            device[i] = cuda.toDevice(state[i]);
        }
        for (int step = 1; step <= 2; step++) {
            ops.adamw(device[0], device[1], device[2], device[3], new AdamWStep(0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, step),
                    null, 0f, null);
            assertReportedAndUsed(device[0], "adamw's param after step " + step);
        }
    }

    /**
     * An update its guard skips (a NaN loss, an infinite sum of squares) leaves the weight as it was and still
     * reports its amax, that of the unchanged weight, which the next cast then uses. 19 x 23 elements take the
     * four-wide loop and its tail.
     */
    @Test
    void aSkippedAdamwReportsTheUnchangedWeightsAmax() {
        Tensor weight = gaussian(23, 1, DType.F32, 19, 23);
        weight.set(18, 22, -7.5f);  // the largest |value|, in the tail
        float[] before = weight.toFloatArray().clone();
        Tensor[] device = {cuda.toDevice(weight), cuda.toDevice(gaussian(24, 1, DType.F32, 19, 23)),
                cuda.toDevice(Tensor.zeros(DType.F32, 19, 23)), cuda.toDevice(Tensor.zeros(DType.F32, 19, 23))};
        Tensor nanLoss = cuda.toDevice(Tensor.of(new float[] {Float.NaN}, 1, 1));
        Tensor finiteLoss = cuda.toDevice(Tensor.of(new float[] {1.5f}, 1, 1));
        Tensor infiniteSum = cuda.toDevice(Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1, 1));
        Tensor[][] guards = {{nanLoss, ops.sumOfSquares(List.of(device[1]))}, {finiteLoss, infiniteSum}};
        for (int k = 0; k < guards.length; k++) {
            ops.adamw(device[0], device[1], device[2], device[3], new AdamWStep(0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1),
                    guards[k][1], 1f, guards[k][0]);
            assertEquals(7.5f, reportedAmax(device[0], "guard " + k), 0f, "guard " + k + ": reported amax");
            assertArrayEquals(before, cuda.toHost(device[0]).toFloatArray(), "guard " + k + ": the weight");
            assertReportedAndUsed(device[0], "the skipped adamw's param, guard " + k);
        }
    }

    @Test
    void anInPlaceWriteDropsTheReportedAmax() {
        NormResult n = ops.rmsNorm(cuda.toDevice(gaussian(11, 1, DType.F32, 64, 96)),
                cuda.toDevice(gaussian(12, 1, DType.F32, 1, 96)), 1e-5f);
        Tensor y = n.y();
        assertNotNull(ProducerMaxima.knownAmax(y));
        // larger values than the norm's: a stale amax would saturate them
        cuda.copyFromHost(y, gaussian(13, 50, DType.F32, 64, 96));
        assertNull(ProducerMaxima.knownAmax(y), "copyFromHost");
        Tensor expected = cuda.toDevice(cuda.toHost(y));
        assertSameCast(cuda, cuda.quantize(expected, TENSORWISE), cuda.quantize(y, TENSORWISE), "after copyFromHost");

        Tensor h = ops.swiglu(cuda.toDevice(gaussian(14, 1, DType.F32, 8, 16)), cuda.toDevice(gaussian(15, 1, DType.F32, 8, 16)));
        cuda.accumulate(h, cuda.toDevice(gaussian(16, 40, DType.F32, 8, 16)));
        assertNull(ProducerMaxima.knownAmax(h), "accumulate");
        ops.zero(h);
        assertNull(ProducerMaxima.knownAmax(h), "zero");
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void nonFiniteValuesInAReportedResultStillStopTheCast(DType dtype) {
        Tensor gate = gaussian(17, 1, dtype, 16, 64);
        gate.set(5, 9, Float.NaN);
        Tensor h = ops.swiglu(cuda.toDevice(gate), cuda.toDevice(gaussian(18, 1, dtype, 16, 64)));
        cuda.release(cuda.quantize(h, TENSORWISE));
        assertThrows(NonFiniteException.class, cuda::synchronize);

        Tensor residual = gaussian(19, 1, dtype, 16, 64);
        residual.set(3, 3, Float.POSITIVE_INFINITY);
        Tensor y = ops.rmsNormBackwardAdd(cuda.toDevice(residual), cuda.toDevice(gaussian(20, 1, dtype, 16, 64)),
                cuda.toDevice(gaussian(21, 1, dtype, 16, 64)), cuda.toDevice(gaussian(22, 1, DType.F32, 1, 64)),
                cuda.toDevice(Tensor.of(new float[16], 16, 1)), cuda.toDevice(Tensor.zeros(DType.F32, 1, 64)));
        cuda.release(cuda.quantize(y, TENSORWISE));
        assertThrows(NonFiniteException.class, cuda::synchronize);
    }
}
