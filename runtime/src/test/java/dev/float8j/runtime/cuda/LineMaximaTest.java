package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.CastAssertions.assertSameCast;
import static dev.float8j.runtime.cuda.GaussianTensors.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The row and column maxima that swiglu, its backward, RMSNorm's backward and AdamW report for their results once a rowwise cast has
 * asked for them (lines.cuh): each equals the largest |value| of the downloaded result's row or column exactly, the
 * results are the same bits as without them, and a rowwise cast that reads them gives the same codes and scales as a
 * cast of the same values that has none. Skips without a GPU.
 *
 * <p>The shapes leave partial strips (cols not a multiple of 512) and partial row groups (rows not a multiple of 8),
 * and 2,000 x 1,536 makes several row groups per strip; 128 x 128 tiles cover 256 x 1,536 exactly, so its casts along
 * both axes take the whole-tile kernel.
 */
class LineMaximaTest {
    private static final QuantSpec ROWWISE = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
    private static final int[][] SHAPES = {{37, 1040}, {2000, 1536}, {5, 4}, {256, 1536}};

    private CudaBackend cuda;
    private ModelOps ops;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
        ops = cuda.ops();
        cuda.maxima().wantLines(true);
    }

    /** The words t's producer reported: its row maxima, then its column maxima, as floats. */
    private float[] reportedLines(Tensor t, String what) {
        long lines = ProducerMaxima.knownLines(t);
        assertNotEquals(0L, lines, what + " reports no line maxima");
        return DeviceWords.floats(cuda, lines, t.rows() + t.cols());
    }

    /** Each row's largest |value|, then each column's, from t's downloaded values. */
    private float[] hostLines(Tensor t) {
        float[] v = cuda.toHost(t).toFloatArray();
        int rows = t.rows();
        int cols = t.cols();
        float[] out = new float[rows + cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float a = Math.abs(v[r * cols + c]);
                out[r] = Math.max(out[r], a);
                out[rows + c] = Math.max(out[rows + c], a);
            }
        }
        return out;
    }

    /**
     * t's reported line maxima are its rows' and columns' largest |values|, and its rowwise casts along both axes equal
     * those of a fresh copy of its values, which has none.
     */
    private void assertReportedAndUsed(Tensor t, String what) {
        assertArrayEquals(hostLines(t), reportedLines(t, what), 0f, what + ": row maxima, then column maxima");
        Tensor fresh = cuda.toDevice(cuda.toHost(t));
        assertEquals(0L, ProducerMaxima.knownLines(fresh));
        Float8Tensor[] expected = cuda.quantizeBothAxes(fresh, ROWWISE, ROWWISE.withAxis(0));
        Float8Tensor[] actual = cuda.quantizeBothAxes(t, ROWWISE, ROWWISE.withAxis(0));
        assertSameCast(cuda, expected[0], actual[0], what + " along 1");
        assertSameCast(cuda, expected[1], actual[1], what + " along 0");
        assertSameCast(cuda, cuda.quantize(fresh, ROWWISE.withAxis(0)), cuda.quantize(t, ROWWISE.withAxis(0)),
                what + " along 0 alone");
    }

    /**
     * The host's reference values: F32 to float rounding (the kernels compute in F32, the reference in double), BF16
     * to one BF16 rounding step (2^-8 relative), as CudaModelOpsTest checks the grid-stride kernels.
     */
    private void assertClose(Tensor expected, Tensor actualOnDevice, DType dtype, String what) {
        assertClose(expected, actualOnDevice, dtype, 1e-6, what);
    }

    private void assertClose(Tensor expected, Tensor actualOnDevice, DType dtype, double atol, String what) {
        double rtol = dtype == DType.F32 ? 2e-5 : 8e-3;
        float[] e = expected.toFloatArray();
        float[] a = cuda.toHost(actualOnDevice).toFloatArray();
        for (int i = 0; i < e.length; i++) {
            double bound = atol + rtol * Math.abs(e[i]);
            if (!(Math.abs(e[i] - a[i]) <= bound)) {
                throw new AssertionError(what + ": element " + i + " is " + a[i] + ", expected " + e[i]);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void swigluAndItsBackwardReportTheirLinesAndTheCastUsesThem(DType dtype) {
        for (int[] shape : SHAPES) {
            String at = " at " + shape[0] + " x " + shape[1];
            Tensor gate = gaussian(1, 2, dtype, shape[0], shape[1]);
            Tensor up = gaussian(2, 2, dtype, shape[0], shape[1]);
            Tensor dH = gaussian(3, 0.1, dtype, shape[0], shape[1]);
            Tensor h = ops.swiglu(cuda.toDevice(gate), cuda.toDevice(up));
            assertReportedAndUsed(h, "swiglu" + at);
            assertClose(ReferenceModelOps.INSTANCE.swiglu(gate, up), h, dtype, "swiglu" + at);
            Tensor[] d = ops.swigluBackward(cuda.toDevice(dH), cuda.toDevice(gate), cuda.toDevice(up));
            Tensor[] expected = ReferenceModelOps.INSTANCE.swigluBackward(dH, gate, up);
            assertReportedAndUsed(d[0], "swiglu dGate" + at);
            assertReportedAndUsed(d[1], "swiglu dUp" + at);
            assertClose(expected[0], d[0], dtype, "swiglu dGate" + at);
            assertClose(expected[1], d[1], dtype, "swiglu dUp" + at);
        }
    }

    /**
     * With and without the residual added, for rows held in registers (the only ones that report lines): rows of a
     * multiple of 8 elements, so SHAPES' 5 x 4 becomes 5 x 8.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void rmsNormBackwardReportsItsLinesAndTheCastUsesThem(DType dtype) {
        for (int[] shape : new int[][] {{37, 1040}, {2000, 1536}, {5, 8}, {256, 1536}}) {
            int rows = shape[0];
            int dim = shape[1];
            String at = " at " + rows + " x " + dim;
            Tensor x = gaussian(20, 3, dtype, rows, dim);
            Tensor gain = gaussian(21, 1, DType.F32, 1, dim);
            Tensor dY = gaussian(22, 0.01, dtype, rows, dim);
            Tensor residual = gaussian(23, 0.02, dtype, rows, dim);
            NormResult n = ops.rmsNorm(cuda.toDevice(x), cuda.toDevice(gain), 1e-5f);
            Tensor inverseRms = cuda.toHost(n.inverseRms());
            Tensor dX = ops.rmsNormBackward(cuda.toDevice(dY), cuda.toDevice(x), cuda.toDevice(gain), n.inverseRms(),
                    cuda.toDevice(Tensor.zeros(DType.F32, 1, dim)));
            assertReportedAndUsed(dX, "rmsNorm dX" + at);
            Tensor expected = ReferenceModelOps.INSTANCE.rmsNormBackward(dY, x, gain, inverseRms,
                    Tensor.zeros(DType.F32, 1, dim));
            assertClose(expected, dX, dtype, 1e-4, "rmsNorm dX" + at);
            Tensor sum = ops.rmsNormBackwardAdd(cuda.toDevice(residual), cuda.toDevice(dY), cuda.toDevice(x),
                    cuda.toDevice(gain), n.inverseRms(), cuda.toDevice(Tensor.zeros(DType.F32, 1, dim)));
            assertReportedAndUsed(sum, "rmsNorm residual + dX" + at);
        }
    }

    /**
     * The weights and moments match the host's AdamW, and the updated weight's lines are reported, step after step;
     * with an F32 gradient and with a BF16 one (its own kernel), which the host reads widened to F32.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void adamwReportsTheUpdatedWeightsLines(DType gradType) {
        for (int[] shape : SHAPES) {
            int rows = shape[0];
            int cols = shape[1];
            Tensor grad = gaussian(5, 1, gradType, rows, cols);
            Tensor[] host = {gaussian(4, 1, DType.F32, rows, cols), grad.to(DType.F32),
                    Tensor.zeros(DType.F32, rows, cols), Tensor.zeros(DType.F32, rows, cols)};
            Tensor[] device = new Tensor[4];
            for (int i = 0; i < 4; i++) {
                device[i] = cuda.toDevice(i == 1 ? grad : host[i].copy());
            }
            for (int step = 1; step <= 2; step++) {
                AdamWStep s = new AdamWStep(0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
                ops.adamw(device[0], device[1], device[2], device[3], s, null, 0f, null);
                ReferenceModelOps.INSTANCE.adamw(host[0], host[1], host[2], host[3], s, null, 0f, null);
                for (int i = 0; i < 4; i += 2) {
                    assertArrayEquals(host[i].toFloatArray(), cuda.toHost(device[i]).toFloatArray(), 1e-5f,
                            "tensor " + i + " after step " + step + " at " + rows + " x " + cols + ", " + gradType
                                    + " gradient");
                }
                assertReportedAndUsed(device[0], "adamw's param after step " + step + " at " + rows + " x " + cols);
            }
        }
    }

    /** A guarded update that skips still reports the lines of the weight as it stays. */
    @Test
    void aSkippedAdamwReportsTheUnchangedWeightsLines() {
        Tensor weight = gaussian(6, 1, DType.F32, 40, 520);
        float[] before = weight.toFloatArray().clone();
        Tensor[] device = {cuda.toDevice(weight), cuda.toDevice(gaussian(7, 1, DType.F32, 40, 520)),
                cuda.toDevice(Tensor.zeros(DType.F32, 40, 520)), cuda.toDevice(Tensor.zeros(DType.F32, 40, 520))};
        Tensor nanLoss = cuda.toDevice(Tensor.of(new float[] {Float.NaN}, 1, 1));
        ops.adamw(device[0], device[1], device[2], device[3], new AdamWStep(0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1),
                ops.sumOfSquares(List.of(device[1])), 1f, nanLoss);
        assertArrayEquals(before, cuda.toHost(device[0]).toFloatArray(), "the skipped update wrote the weight");
        assertReportedAndUsed(device[0], "the skipped adamw's param");
    }

    /**
     * Producers report lines only once a rowwise cast needing column maxima met a result whose producer reports its
     * amax; a tensorwise cast, or a rowwise one along 1 alone, does not ask for them.
     */
    @Test
    void aRowwiseCastAlong0OfAReportedResultMakesTheNextOneReportLines() {
        cuda.maxima().wantLines(false);
        Tensor gate = cuda.toDevice(gaussian(8, 1, DType.BF16, 64, 256));
        Tensor up = cuda.toDevice(gaussian(9, 1, DType.BF16, 64, 256));
        Tensor h = ops.swiglu(gate, up);
        assertEquals(0L, ProducerMaxima.knownLines(h), "before any rowwise cast");
        cuda.release(cuda.quantize(h, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1)));
        cuda.release(cuda.quantize(h, ROWWISE));
        assertEquals(0L, ProducerMaxima.knownLines(ops.swiglu(gate, up)), "after casts that need no column maxima");
        cuda.release(cuda.quantize(h, ROWWISE.withAxis(0)));
        assertNotEquals(0L, ProducerMaxima.knownLines(ops.swiglu(gate, up)), "after a rowwise cast along 0");
    }

    /** Lines hold for the shape they were reported at: a reshaped view reads none. */
    @Test
    void aViewOfAnotherShapeHasNoLines() {
        Tensor h = ops.swiglu(cuda.toDevice(gaussian(10, 1, DType.BF16, 16, 64)),
                cuda.toDevice(gaussian(11, 1, DType.BF16, 16, 64)));
        assertNotEquals(0L, ProducerMaxima.knownLines(h));
        assertEquals(0L, ProducerMaxima.knownLines(h.reshape(32, 32)));
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void nonFiniteValuesInAResultWithLinesStillStopTheCast(DType dtype) {
        Tensor gate = gaussian(12, 1, dtype, 16, 64);
        gate.set(5, 9, Float.NaN);
        Tensor h = ops.swiglu(cuda.toDevice(gate), cuda.toDevice(gaussian(13, 1, dtype, 16, 64)));
        cuda.release(cuda.quantizeBothAxes(h, ROWWISE, ROWWISE.withAxis(0))[1]);
        assertThrows(NonFiniteException.class, cuda::synchronize);
    }
}
