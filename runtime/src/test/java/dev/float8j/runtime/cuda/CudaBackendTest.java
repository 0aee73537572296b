package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.QuantSpecs;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Compares every CUDA kernel and gemm with the reference backend on random data. Skips without a GPU. */
class CudaBackendTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    /**
     * Products of FP8 codes are exact, but Hopper's FP8 tensor cores add them with fewer than float32's
     * mantissa bits before cuBLASLt promotes the partial sums: tensorwise gemms were measured at 2.5e-4
     * relative (Frobenius) error against the float32 reference. A wrong scale or layout gives errors near 1.
     */
    private static final double GEMM_TOLERANCE = 1e-3;
    /** Shapes that are not multiples of 16 or 128, and some that are. */
    private static final int[][] SHAPES = {{1, 1}, {37, 300}, {130, 257}, {256, 128}, {5, 1000}, {300, 33}};

    private CudaBackend cuda;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
    }

    /** Random values spanning several magnitudes, with rows and columns of very different ranges. */
    private static Tensor random(int rows, int cols, DType dtype, long seed) {
        Random rnd = new Random(seed);
        float[] rowScale = new float[rows];
        for (int r = 0; r < rows; r++) {
            rowScale[r] = (float) Math.pow(10, rnd.nextInt(7) - 3);
        }
        float[] data = new float[rows * cols];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian() * rowScale[i / cols] * (rnd.nextInt(50) == 0 ? 100 : 1);
        }
        Tensor t = Tensor.of(data, rows, cols);
        return dtype == DType.F32 ? t : t.to(DType.BF16);
    }

    private static void assertSameQuantization(Float8Tensor expected, Float8Tensor actual, String what) {
        assertArrayEquals(expected.scales(), actual.scales(), what + ": scales");
        byte[] e = expected.codes();
        byte[] a = actual.codes();
        for (int i = 0; i < e.length; i++) {
            if (e[i] != a[i]) {
                throw new AssertionError(what + ": code " + i + " (row " + i / expected.cols() + ", col "
                        + i % expected.cols() + ") is " + a[i] + ", reference " + e[i]);
            }
        }
        assertEquals(expected.spec(), actual.spec(), what);
    }

    /** Power-of-two scales of an amax near Float.MAX_VALUE stop at the same floor as Scales (docs/formats.md). */
    @Test
    void inputsNearFloatMaxSaturateAsInTheReference() {
        float[] data = new float[4 * 64];
        data[0] = Float.MAX_VALUE;
        data[70] = -Float.MAX_VALUE;
        data[140] = 0.9f * Float.MAX_VALUE;
        data[200] = 1f;
        Tensor x = Tensor.of(data, 4, 64);
        for (QuantSpec spec : QuantSpecs.all()) {
            assertSameQuantization(REF.quantize(x, spec), cuda.quantize(x, spec), "Float.MAX_VALUE " + spec);
        }
    }

    @Test
    void quantizeMatchesReferenceBitForBit() {
        long seed = 1;
        for (int[] shape : SHAPES) {
            for (DType dtype : DType.values()) {
                Tensor x = random(shape[0], shape[1], dtype, seed++);
                for (QuantSpec spec : QuantSpecs.all()) {
                    assertSameQuantization(REF.quantize(x, spec), cuda.quantize(x, spec), x + " " + spec);
                }
            }
        }
    }

    @Test
    void bothAxesMatchesTwoReferenceQuantizations() {
        long seed = 100;
        for (int[] shape : SHAPES) {
            Tensor x = random(shape[0], shape[1], DType.BF16, seed++);
            for (ScalingGranularity g : ScalingGranularity.values()) {
                QuantSpec along1 = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                QuantSpec along0 = QuantSpec.of(Fp8Format.E5M2, g, 0);
                Float8Tensor[] both = cuda.quantizeBothAxes(x, along1, along0);
                assertSameQuantization(REF.quantize(x, along1), both[0], x + " both axes, along 1, " + g);
                assertSameQuantization(REF.quantize(x, along0), both[1], x + " both axes, along 0, " + g);
            }
        }
    }

    @Test
    void requantizeAndDequantizeMatchReference() {
        long seed = 200;
        for (int[] shape : SHAPES) {
            Tensor x = random(shape[0], shape[1], DType.F32, seed++);
            for (ScalingGranularity from : ScalingGranularity.values()) {
                Float8Tensor q = REF.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, from, 1));
                assertArrayEquals(REF.dequantize(q).data(), cuda.dequantize(q).data(), "dequantize " + q);
                for (ScalingGranularity to : ScalingGranularity.values()) {
                    for (int axis = 0; axis < 2; axis++) {
                        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, to, axis);
                        assertSameQuantization(REF.requantize(q, spec), cuda.requantize(q, spec),
                                "requantize " + q + " to " + spec);
                    }
                }
            }
        }
    }

    private static double relativeError(Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.size(); i++) {
            double d = expected.getFlat(i) - actual.getFlat(i);
            assertTrue(Float.isFinite(actual.getFlat(i)), "non-finite output at " + i);
            num += d * d;
            den += (double) expected.getFlat(i) * expected.getFlat(i);
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    @Test
    void gemmMatchesReferenceForEveryGranularityPairAndLayerGemm() {
        int m = 77;
        int n = 45;
        int k = 200;
        Tensor x = random(m, k, DType.F32, 300);
        Tensor w = random(n, k, DType.F32, 301);
        Tensor dy = random(m, n, DType.F32, 302);
        ScalingGranularity[][] pairs = {
            {ScalingGranularity.TENSORWISE, ScalingGranularity.TENSORWISE},
            {ScalingGranularity.ROWWISE, ScalingGranularity.ROWWISE},
            {ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128},
            {ScalingGranularity.BLOCK_128X128, ScalingGranularity.TILE_1X128},
            {ScalingGranularity.TILE_1X128, ScalingGranularity.TILE_1X128},
            {ScalingGranularity.BLOCK_128X128, ScalingGranularity.BLOCK_128X128},
            {ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE},
            {ScalingGranularity.ROWWISE, ScalingGranularity.TILE_1X128},
            {ScalingGranularity.MX_1X32, ScalingGranularity.MX_1X32},
        };
        for (ScalingGranularity[] pair : pairs) {
            for (Fp8Format second : Fp8Format.values()) {
                // output, grad_input, grad_weight of y = x·Wᵀ
                Object[][] gemms = {{x, 1, w, 1}, {dy, 1, w, 0}, {dy, 0, x, 0}};
                for (Object[] g : gemms) {
                    Float8Tensor a = REF.quantize((Tensor) g[0], QuantSpec.of(Fp8Format.E4M3FN, pair[0], (int) g[1]));
                    Float8Tensor b = REF.quantize((Tensor) g[2], QuantSpec.of(second, pair[1], (int) g[3]));
                    double err = relativeError(REF.gemm(a, b), cuda.gemm(a, b));
                    assertTrue(err < GEMM_TOLERANCE, a + " x " + b + ": relative error " + err);
                }
            }
        }
        Float8Tensor a = REF.quantize(x, QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.ROWWISE, 1));
        Float8Tensor b = REF.quantize(w, QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.ROWWISE, 1));
        assertTrue(relativeError(REF.gemm(a, b), cuda.gemm(a, b)) < GEMM_TOLERANCE, "E5M2 x E5M2");
    }

    @Test
    void matmulMatchesReference() {
        for (DType dtype : DType.values()) {
            Tensor x = random(70, 90, dtype, 400);
            Tensor w = random(50, 90, dtype, 401);
            Tensor dy = random(70, 50, dtype, 402);
            assertTrue(relativeError(REF.matmul(x, 1, w, 1), cuda.matmul(x, 1, w, 1)) < 1e-5, dtype + " output");
            assertTrue(relativeError(REF.matmul(dy, 1, w, 0), cuda.matmul(dy, 1, w, 0)) < 1e-5, dtype + " grad_input");
            assertTrue(relativeError(REF.matmul(dy, 0, x, 0), cuda.matmul(dy, 0, x, 0)) < 1e-5, dtype + " grad_weight");
        }
    }

    /**
     * A high-precision weight gradient added into a device F32 gradient by the gemm itself (beta = 1) equals the
     * gradient plus the reference's product; BF16 activations with an F32 gradient run as BF16 x BF16.
     */
    @Test
    void matmulAccumulateAddsTheProductIntoADeviceGradient() {
        for (DType dtype : DType.values()) {
            Tensor x = random(70, 90, dtype, 410);
            Tensor dy = random(70, 50, dtype, 411);
            Tensor start = random(50, 90, DType.F32, 412);
            Tensor grad = cuda.toDevice(start);
            cuda.matmulAccumulate(grad, cuda.toDevice(dy), 0, cuda.toDevice(x), 0);
            Tensor expected = REF.matmul(dy, 0, x, 0);
            float[] sum = expected.data().clone();
            for (int i = 0; i < sum.length; i++) {
                sum[i] += start.getFlat(i);
            }
            assertTrue(relativeError(Tensor.of(sum, 50, 90), cuda.toHost(grad)) < 1e-5, dtype + " grad_weight +=");
        }
    }

    @Test
    void deviceGemmOfDeviceQuantizationsMatchesReference() {
        int m = 256;
        int n = 384;
        int k = 512;
        Tensor x = random(m, k, DType.BF16, 500);
        Tensor w = random(n, k, DType.BF16, 501);
        ScalingGranularity[][] recipes = {
            {ScalingGranularity.TENSORWISE, ScalingGranularity.TENSORWISE},
            {ScalingGranularity.ROWWISE, ScalingGranularity.ROWWISE},
            {ScalingGranularity.TILE_1X128, ScalingGranularity.BLOCK_128X128},
            {ScalingGranularity.TILE_1X128, ScalingGranularity.TILE_1X128},
        };
        try (DeviceTensor dx = cuda.upload(x); DeviceTensor dw = cuda.upload(w)) {
            for (ScalingGranularity[] r : recipes) {
                QuantSpec sx = QuantSpec.of(Fp8Format.E4M3FN, r[0], 1);
                QuantSpec sw = QuantSpec.of(Fp8Format.E4M3FN, r[1], 1);
                try (DeviceFloat8 qx = cuda.quantize(dx, sx); DeviceFloat8 qw = cuda.quantize(dw, sw);
                        DeviceTensor y = cuda.gemm(qx, qw, DType.F32, false)) {
                    Tensor expected = REF.gemm(REF.quantize(x, sx), REF.quantize(w, sw));
                    double err = relativeError(expected, cuda.download(y));
                    assertTrue(err < GEMM_TOLERANCE, "device gemm " + r[0] + " x " + r[1] + ": " + err);
                }
            }
        }
    }

    @Test
    void transposeGivesTheReferenceOtherAxisCopyExactly() {
        for (int[] shape : SHAPES) {
            Tensor x = random(shape[0], shape[1], DType.BF16, 900 + shape[0]);
            for (ScalingGranularity g : new ScalingGranularity[] {ScalingGranularity.TENSORWISE,
                ScalingGranularity.BLOCK_128X128}) {
                for (int axis = 0; axis < 2; axis++) {
                    QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, axis);
                    try (DeviceTensor d = cuda.upload(x); DeviceFloat8 q = cuda.quantize(d, spec);
                            DeviceFloat8 t = cuda.transpose(q)) {
                        assertSameQuantization(REF.quantize(x, spec).alongOtherAxis(),
                                cuda.downloadFloat8(t, x.dtype(), x.shape()), "transpose of " + q);
                    }
                }
            }
        }
    }

    @Test
    void conversionsRoundToNearestEven() {
        Tensor x = random(33, 71, DType.F32, 600);
        try (DeviceTensor d = cuda.upload(x); DeviceTensor b = cuda.convert(d, DType.BF16);
                DeviceTensor back = cuda.convert(b, DType.F32)) {
            Tensor bf = cuda.download(b);
            short[] expected = x.to(DType.BF16).bf16Data();
            assertArrayEquals(expected, bf.bf16Data());
            float[] widened = cuda.download(back).data();
            for (int i = 0; i < widened.length; i++) {
                assertEquals(BFloat16.toFloat(expected[i]), widened[i]);
            }
        }
    }

    @Test
    void nonFiniteInputIsNamed() {
        Tensor x = random(20, 30, DType.F32, 700);
        x.set(3, 4, Float.NaN);
        NonFiniteException e = assertThrows(NonFiniteException.class,
                () -> cuda.quantize(x, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1)));
        assertTrue(e.getMessage().contains("3") && e.getMessage().contains("4"), e.getMessage());
    }

    @Test
    void tensorwiseCastsOfLargeTensorsMatchReference() {
        // Large enough for every thread of the flat amax kernel to run its unrolled loop; 4104 columns need
        // padding, so that cast takes the tile kernel after the flat amax.
        long seed = 900;
        for (int[] shape : new int[][] {{2048, 2048}, {1024, 4104}, {4096, 1024}}) {
            for (DType dtype : DType.values()) {
                Tensor x = random(shape[0], shape[1], dtype, seed++);
                for (Fp8Format f : Fp8Format.values()) {
                    for (int axis = 0; axis < 2; axis++) {
                        QuantSpec spec = QuantSpec.of(f, ScalingGranularity.TENSORWISE, axis);
                        assertSameQuantization(REF.quantize(x, spec), cuda.quantize(x, spec), x + " " + spec);
                    }
                }
            }
        }
    }

    @Test
    void castsOfMatricesThatWholeTilesCoverMatchReference() {
        // 128 x 128 tiles cover these exactly: every granularity's casts along 0 and along both axes take the
        // whole-tile kernel, and all but tensorwise and rowwise along 1 too (several tiles in each direction, more
        // columns than rows and the other way round)
        long seed = 920;
        for (int[] shape : new int[][] {{384, 256}, {128, 1024}, {640, 128}}) {
            for (DType dtype : DType.values()) {
                Tensor x = random(shape[0], shape[1], dtype, seed++);
                for (ScalingGranularity g : ScalingGranularity.values()) {
                    if (g != ScalingGranularity.TENSORWISE && g != ScalingGranularity.ROWWISE) {
                        QuantSpec along1 = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                        assertSameQuantization(REF.quantize(x, along1), cuda.quantize(x, along1), x + " " + along1);
                    }
                    for (Fp8Format f : Fp8Format.values()) {
                        QuantSpec along0 = QuantSpec.of(f, g, 0);
                        assertSameQuantization(REF.quantize(x, along0), cuda.quantize(x, along0), x + " " + along0);
                    }
                    QuantSpec along1 = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                    QuantSpec along0 = QuantSpec.of(Fp8Format.E5M2, g, 0);
                    Float8Tensor[] both = cuda.quantizeBothAxes(x, along1, along0);
                    assertSameQuantization(REF.quantize(x, along1), both[0], x + " both axes, " + along1);
                    assertSameQuantization(REF.quantize(x, along0), both[1], x + " both axes, " + along0);
                }
            }
        }
    }

    @Test
    void requantizesOfMatricesThatWholeTilesCoverMatchReference() {
        // FP8 copies along 1 of matrices that 128 x 128 tiles cover: requantizing them, along either axis, takes the
        // whole-tile kernel with an FP8 source, from every granularity and format to every granularity
        long seed = 980;
        for (int[] shape : new int[][] {{384, 256}, {128, 1024}}) {
            Tensor x = random(shape[0], shape[1], DType.F32, seed++);
            for (Fp8Format f : Fp8Format.values()) {
                for (ScalingGranularity from : ScalingGranularity.values()) {
                    Float8Tensor q = REF.quantize(x, QuantSpec.of(f, from, 1));
                    for (ScalingGranularity to : ScalingGranularity.values()) {
                        for (int axis = 0; axis < 2; axis++) {
                            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, to, axis);
                            assertSameQuantization(REF.requantize(q, spec), cuda.requantize(q, spec),
                                    "requantize " + q + " to " + spec);
                        }
                    }
                }
            }
        }
    }

    @Test
    void rowwiseCastsOfLongRowsMatchReference() {
        // Rowwise along 1 over rows held in registers: the FFN width (14336), the longest rows it takes (F32 16384:
        // 1024 threads of four 16-byte chunks), and rows just past that (16392 F32), which go to the tile kernels.
        long seed = 950;
        for (int[] shape : new int[][] {{33, 14336}, {17, 16384}, {9, 16392}}) {
            for (DType dtype : DType.values()) {
                Tensor x = random(shape[0], shape[1], dtype, seed++);
                for (Fp8Format f : Fp8Format.values()) {
                    QuantSpec spec = QuantSpec.of(f, ScalingGranularity.ROWWISE, 1);
                    assertSameQuantization(REF.quantize(x, spec), cuda.quantize(x, spec), x + " " + spec);
                }
            }
        }
    }

    @Test
    void deviceCastOfNonFiniteInputThrowsAtTheNextSynchronization() {
        // 320 x 256 needs no padding: tensorwise along 1 takes the flat cast kernel, the others the tile kernel;
        // 384 x 256 is covered by whole tiles, which every granularity's casts along both axes take
        for (int rows : new int[] {320, 384}) {
            for (ScalingGranularity g : ScalingGranularity.values()) {
                for (DType dtype : DType.values()) {
                    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                        Tensor x = random(rows, 256, dtype, 1000);
                        x.set(291, 17, bad);
                        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                        try (DeviceTensor d = cuda.upload(x)) {
                            for (boolean bothAxes : new boolean[] {false, true}) {
                                DeviceFloat8[] out = bothAxes ? cuda.quantizeBothAxes(d, spec, spec.withAxis(0))
                                        : new DeviceFloat8[] {cuda.quantize(d, spec)};
                                for (DeviceFloat8 q : out) {
                                    q.close();
                                }
                                String what = g + " " + dtype + " " + bad + (bothAxes ? " both axes" : " along 1");
                                NonFiniteException e = assertThrows(NonFiniteException.class, cuda::synchronize, what);
                                String message = e.getMessage();
                                assertTrue(message.contains(d.toString()) && message.contains(g.toString()),
                                        what + ": " + message);
                            }
                        }
                        // the report is consumed: a clean cast afterwards synchronizes quietly
                        try (DeviceTensor clean = cuda.upload(random(320, 256, dtype, 1001));
                                DeviceFloat8 q = cuda.quantize(clean, spec)) {
                            cuda.synchronize();
                        }
                    }
                }
            }
        }
    }

    @Test
    void cachingAllocatorLeaksNothingAcrossSteps() {
        int m = 512;
        int k = 384;
        int n = 256;
        try (DeviceTensor x = cuda.upload(random(m, k, DType.BF16, 800));
                DeviceTensor w = cuda.upload(random(n, k, DType.BF16, 801));
                DeviceTensor dy = cuda.upload(random(m, n, DType.BF16, 802))) {
            long inUseBefore = cuda.allocator().bytesInUse();
            long allocationsAfterWarmup = 0;
            for (int step = 0; step < 60; step++) {
                linearStep(x, w, dy);
                cuda.quantize(random(40, 50, DType.F32, step), QuantSpec.of(Fp8Format.E4M3FN,
                        ScalingGranularity.TILE_1X128, 0));
                if (step == 4) {
                    allocationsAfterWarmup = cuda.allocator().driverAllocations();
                }
                assertEquals(inUseBefore, cuda.allocator().bytesInUse(), "bytes in use after step " + step);
            }
            assertEquals(allocationsAfterWarmup, cuda.allocator().driverAllocations(),
                    "steps after the warm-up must be served from the cache");
        }
    }

    /**
     * Releasing the last view of a device tensor hands its memory back at once, not when the scope closes; a view
     * still live (a reshape, an FP8 copy seen along the other axis) keeps it.
     */
    @Test
    void releasingTheLastViewFreesDeviceMemoryAtOnce() {
        long before = cuda.allocator().bytesInUse();
        Tensor x = cuda.toDevice(random(256, 128, DType.BF16, 31));
        Tensor reshaped = x.reshape(128, 256);
        long held = cuda.allocator().bytesInUse() - before;
        assertTrue(held >= 256 * 128 * 2, "the upload holds its bytes: " + held);
        cuda.release(x);
        assertEquals(before + held, cuda.allocator().bytesInUse(), "the reshape still holds the memory");
        assertEquals(DType.BF16, cuda.toHost(reshaped).dtype());
        cuda.release(reshaped);
        assertEquals(before, cuda.allocator().bytesInUse(), "the last view released frees the memory");
        assertThrows(IllegalStateException.class, () -> cuda.toHost(reshaped));

        Tensor y = cuda.toDevice(random(256, 128, DType.BF16, 32));
        long withY = cuda.allocator().bytesInUse();
        Float8Tensor q = cuda.quantize(y, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1));
        Float8Tensor other = q.alongOtherAxis();
        long fp8 = cuda.allocator().bytesInUse() - withY;
        assertTrue(fp8 >= 256 * 128, "the FP8 copy holds its codes: " + fp8);
        cuda.release(q);
        assertEquals(withY + fp8, cuda.allocator().bytesInUse(), "the other-axis view still holds the codes");
        cuda.release(other);
        cuda.release(y);
        assertEquals(before, cuda.allocator().bytesInUse());
    }

    /** A tensor a collective in flight uses is freed only once the compute stream has waited for the collective. */
    @Test
    void aReleasedTensorPinnedByACollectiveInFlightIsFreedAfterTheWait() {
        long before = cuda.allocator().bytesInUse();
        Tensor x = cuda.toDevice(random(64, 64, DType.F32, 33));
        long held = cuda.allocator().bytesInUse() - before;
        try (CollectiveStream collectives = new CollectiveStream(cuda.context().driver, cuda.stream())) {
            var pending = collectives.issue((stream, temporaries) -> null, x);
            cuda.release(x);
            assertEquals(before + held, cuda.allocator().bytesInUse(), "pinned while the collective is in flight");
            pending.await();
            assertEquals(before, cuda.allocator().bytesInUse(), "freed once the compute stream waited for it");
        }
    }

    /** One FP8 linear layer forward and backward on the device (rowwise, both axes). */
    private void linearStep(DeviceTensor x, DeviceTensor w, DeviceTensor dy) {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
        DeviceFloat8[] qx = cuda.quantizeBothAxes(x, spec, spec.withAxis(0));
        DeviceFloat8[] qw = cuda.quantizeBothAxes(w, spec, spec.withAxis(0));
        DeviceFloat8[] qdy = cuda.quantizeBothAxes(dy, spec, spec.withAxis(0));
        DeviceFloat8 w0again = cuda.requantize(qw[0], spec.withAxis(0));
        DeviceTensor y = cuda.gemm(qx[0], qw[0], DType.BF16, true);
        DeviceTensor dx = cuda.gemm(qdy[0], w0again, DType.BF16, false);
        DeviceTensor dw = cuda.gemm(qdy[1], qx[1], DType.BF16, false);
        for (AutoCloseable c : new AutoCloseable[] {qx[0], qx[1], qw[0], qw[1], qdy[0], qdy[1], w0again, y, dx, dw}) {
            try {
                c.close();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        cuda.synchronize();
    }
}
