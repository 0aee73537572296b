package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {

    @Test
    void matrixViewOfAHigherRankTensor() {
        float[] data = new float[2 * 3 * 4];
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
        Tensor t = Tensor.of(data, 2, 3, 4);
        assertEquals(6, t.rows());
        assertEquals(4, t.cols());
        assertEquals(3, t.rank());
        assertEquals(24, t.size());
        assertEquals(4 * 5 + 3, t.get(5, 3));
        assertEquals(96, t.bytes());
        Tensor r = t.reshape(4, 6);
        assertEquals(4, r.rows());
        assertEquals(6, r.cols());
        r.set(0, 0, 42f);
        assertEquals(42f, t.get(0, 0), "reshape is a view");
    }

    @Test
    void bf16StorageRoundsToNearestEven() {
        Tensor t = Tensor.zeros(DType.BF16, 1, 2);
        t.set(0, 0, Float.intBitsToFloat(0x3F80_8000));
        t.set(0, 1, Float.intBitsToFloat(0x3F81_8000));
        assertEquals(Float.intBitsToFloat(0x3F80_0000), t.get(0, 0));
        assertEquals(Float.intBitsToFloat(0x3F82_0000), t.get(0, 1));
        assertEquals(4, t.bytes());
        Tensor f = t.to(DType.F32);
        assertArrayEquals(t.toFloatArray(), f.data());
        assertThrows(IllegalStateException.class, t::data);
        assertThrows(IllegalStateException.class, f::bf16Data);
    }

    @Test
    void badShapesAreRefusedNamingTheShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 5));
        assertTrue(e.getMessage().contains("[5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 2, 0));
        assertTrue(e.getMessage().contains("[2, 0]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 2, -3));
        assertTrue(e.getMessage().contains("[2, -3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 65536, 65536));
        assertTrue(e.getMessage().contains("[65536, 65536]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[6], 2, 3).reshape(4, 2));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.ofBf16(new short[3], 2, 2));
        assertThrows(NullPointerException.class, () -> Tensor.of(null, 2, 2));
    }

    @Test
    void elementsOutsideTheMatrixAreRefused() {
        Tensor t = Tensor.zeros(DType.F32, 2, 3);
        // (0, 3) would be element (1, 0) in row-major order: it must not be read silently
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> t.get(0, 3));
        assertTrue(e.getMessage().contains("[0, 3]") && e.getMessage().contains("2x3"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(2, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(-1, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> t.set(0, -1, 1f));
    }
}
