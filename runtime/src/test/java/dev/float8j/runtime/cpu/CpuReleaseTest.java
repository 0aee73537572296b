package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Released results: their arrays are reused for later results, views keep them alive, use after release throws. */
class CpuReleaseTest {
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();
    private static final QuantSpec ROWWISE = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
    private static final QuantSpec BLOCKS = QuantSpec.of(Fp8Format.E5M2, ScalingGranularity.BLOCK_128X128, 1);

    private static Tensor random(long seed, int rows, int cols) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextDouble(-3, 3)));
        }
        return Tensor.of(v, rows, cols);
    }

    private static void assertSameAsReference(Tensor x, QuantSpec spec, Float8Tensor actual) {
        Float8Tensor expected = REFERENCE.quantize(x, spec);
        assertArrayEquals(expected.scales(), actual.scales(), spec + ": scales");
        assertArrayEquals(expected.codes(), actual.codes(), spec + ": codes");
    }

    @Test
    void releasedArraysAreReusedAndResultsStayExact() {
        CpuBackend cpu = new CpuBackend(2);
        Tensor a = random(1, 300, 257);
        Tensor b = random(2, 300, 257);
        Float8Tensor qa = cpu.quantize(a, ROWWISE);
        byte[] codes = qa.codes();
        float[] scales = qa.scalesForBackend();
        cpu.release(qa);
        Float8Tensor qb = cpu.quantize(b, ROWWISE);
        assertSame(codes, qb.codes(), "the released codes are reused");
        assertSame(scales, qb.scalesForBackend(), "the released scales are reused");
        assertSameAsReference(b, ROWWISE, qb);

        Tensor da = cpu.dequantize(qb);
        float[] values = da.data();
        assertArrayEquals(REFERENCE.dequantize(qb).data(), values);
        cpu.release(da);
        Tensor db = cpu.dequantize(qb);
        assertSame(values, db.data(), "the released dequantized values are reused");
        assertArrayEquals(REFERENCE.dequantize(qb).data(), db.data());

        // Both axes and requantize take released arrays too, and stay exact.
        cpu.release(qb);
        cpu.release(db);
        QuantSpec columns = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);
        QuantSpec rows = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 0);
        for (int round = 0; round < 3; round++) {
            Float8Tensor[] both = cpu.quantizeBothAxes(a, columns, rows);
            assertSameAsReference(a, columns, both[0]);
            assertSameAsReference(a, rows, both[1]);
            Float8Tensor again = cpu.requantize(both[0], rows);
            Float8Tensor expected = REFERENCE.requantize(REFERENCE.quantize(a, columns), rows);
            assertArrayEquals(expected.codes(), again.codes());
            assertArrayEquals(expected.scales(), again.scales());
            cpu.release(both[0]);
            cpu.release(both[1]);
            cpu.release(again);
        }
    }

    @Test
    void gemmAndMatmulResultsComeFromThePoolAndABf16ResultIsTheF32OneRoundedOnce() {
        CpuBackend cpu = new CpuBackend(2, 1L << 24, "off");  // the Vector API path, on any CPU
        Float8Tensor qa = cpu.quantize(random(3, 70, 200), ROWWISE);
        Float8Tensor qb = cpu.quantize(random(4, 90, 200), ROWWISE);
        Tensor first = cpu.gemm(qa, qb);
        float[] array = first.data();
        float[] values = array.clone();
        cpu.release(first);
        Tensor second = cpu.gemm(qa, qb);
        assertSame(array, second.data(), "the released F32 result's array is reused");
        assertArrayEquals(values, second.data(), "a reused array holds the whole new result");
        cpu.release(second);
        // 70 x 90 = 6,300 values: the rounding's last vector is partial, so its scalar tail runs too
        Tensor rounded = cpu.gemm(qa, qb, DType.BF16);
        for (int i = 0; i < values.length; i++) {
            assertEquals(BFloat16.fromFloat(values[i]), rounded.bf16Data()[i], "element " + i);
        }
        assertSame(array, cpu.gemm(qa, qb).data(), "the F32 sums a BF16 result was rounded from went back to the pool");

        // the high-precision matmul alike
        Tensor x = random(5, 70, 200);
        Tensor w = random(6, 90, 200);
        Tensor bias = random(7, 1, 90);
        Tensor product = cpu.matmul(x, 1, w, 1, bias, DType.F32);
        float[] productArray = product.data();
        float[] sums = productArray.clone();
        cpu.release(product);
        Tensor product16 = cpu.matmul(x, 1, w, 1, bias, DType.BF16);
        for (int i = 0; i < sums.length; i++) {
            assertEquals(BFloat16.fromFloat(sums[i]), product16.bf16Data()[i], "matmul element " + i);
        }
        assertSame(productArray, cpu.matmul(x, 1, w, 1).data(), "the matmul's F32 array went back to the pool");
    }

    @Test
    void useAfterReleaseThrows() {
        for (Backend backend : new Backend[] {new CpuBackend(1), REFERENCE}) {
            Float8Tensor q = backend.quantize(random(3, 20, 30), BLOCKS);
            Tensor d = backend.dequantize(q);
            backend.release(q);
            backend.release(d);
            String name = backend.name();
            assertTrue(q.isReleased() && d.isReleased(), name);
            assertThrows(IllegalStateException.class, q::codes, name);
            assertThrows(IllegalStateException.class, q::scales, name);
            assertThrows(IllegalStateException.class, () -> q.dequantized(0, 0), name);
            assertThrows(IllegalStateException.class, q::alongOtherAxis, name);
            assertThrows(IllegalStateException.class, () -> backend.dequantize(q), name);
            assertThrows(IllegalStateException.class, () -> backend.release(q), name + ": released twice");
            assertThrows(IllegalStateException.class, d::data, name);
            assertThrows(IllegalStateException.class, () -> d.get(0, 0), name);
            assertThrows(IllegalStateException.class, () -> d.reshape(600), name);
            assertThrows(IllegalStateException.class, () -> backend.release(d), name + ": released twice");
            // Shapes stay readable: they are not data.
            assertEquals(20, q.rows());
            assertEquals(30, d.cols());
        }
    }

    @Test
    void arraysSharedWithALiveViewAreNotReused() {
        CpuBackend cpu = new CpuBackend(1);
        Tensor x = random(4, 200, 140);
        Float8Tensor q = cpu.quantize(x, BLOCKS);
        Float8Tensor view = q.alongOtherAxis();
        byte[] codes = q.codes();
        cpu.release(q);
        Float8Tensor other = cpu.quantize(random(5, 200, 140), BLOCKS);
        assertNotSame(codes, other.codes(), "the view still reads these codes");
        assertSameAsReference(x, BLOCKS.otherAxis(), view);
        cpu.release(view);
        assertSame(codes, cpu.quantize(x, BLOCKS).codes(), "reused once the last view is released");

        Tensor d = cpu.dequantize(other);
        Tensor reshaped = d.reshape(140, 200);
        float[] values = d.data();
        cpu.release(d);
        assertNotSame(values, cpu.dequantize(other).data(), "the reshape still reads these values");
        assertArrayEquals(REFERENCE.dequantize(other).data(), reshaped.data());
        cpu.release(reshaped);
        assertSame(values, cpu.dequantize(other).data(), "reused once the reshape is released");
    }

    @Test
    void arraysACallerWrappedAreNeverReused() {
        CpuBackend cpu = new CpuBackend(1);
        Float8Tensor q = cpu.quantize(random(6, 64, 64), ROWWISE);
        float[] mine = new float[64 * 64];
        byte[] myCodes = q.codes().clone();
        Float8Tensor wrapped = new Float8Tensor(myCodes, q.scales().clone(), ROWWISE, q.originalDType(), 64, 64);
        cpu.release(Tensor.of(mine, 64, 64));
        cpu.release(wrapped);
        assertEquals(0, cpu.pool().heldArrays());
        assertNotSame(mine, cpu.dequantize(q).data());
        assertNotSame(myCodes, cpu.quantize(random(7, 64, 64), ROWWISE).codes());
    }

    @Test
    void thePoolStaysBounded() {
        long capacity = 3 * 100 * 100 * 4;
        CpuBackend cpu = new CpuBackend(1, capacity);
        Tensor x = random(8, 100, 100);
        Float8Tensor q = cpu.quantize(x, ROWWISE);
        for (int i = 0; i < 20; i++) {
            cpu.release(cpu.dequantize(q)); // 40000 bytes each
            cpu.release(cpu.quantize(random(9 + i, 100, 100 + i), ROWWISE)); // a new size each time
            assertTrue(cpu.pool().heldBytes() <= capacity, "held " + cpu.pool().heldBytes());
        }
        ArrayPool pool = new ArrayPool(1L << 30);
        for (int i = 0; i < 1000; i++) {
            pool.put(new byte[i + 1]);
        }
        assertTrue(pool.heldArrays() <= 64, "held " + pool.heldArrays() + " arrays");
        byte[] twice = new byte[10];
        pool.put(twice);
        assertThrows(IllegalStateException.class, () -> pool.put(twice));
    }
}
