package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class FloatVectorsTest {

    @Test
    void vectorExpIsWithinTwoUlpsOfStrictMath() {
        int lanes = FloatVectors.FLOATS.length();
        float[] x = new float[lanes];
        float[] y = new float[lanes];
        int checked = 0;
        for (float start = -86.9f; start < 88f; start += 0.0137f * lanes) {
            for (int i = 0; i < lanes; i++) {
                x[i] = start + 0.0137f * i;
            }
            FloatVectors.exp(FloatVector.fromArray(FloatVectors.FLOATS, x, 0)).intoArray(y, 0);
            for (int i = 0; i < lanes && x[i] < 88f; i++) {
                float expected = (float) StrictMath.exp(x[i]);
                assertTrue(Math.abs(y[i] - expected) <= 2 * Math.ulp(expected), "e^" + x[i] + ": " + y[i] + " vs " + expected);
                checked++;
            }
        }
        assertTrue(checked > 10_000, "checked " + checked);
    }

    @Test
    void vectorExpIsZeroBelowMinus87AndExactAtZero() {
        float[] x = new float[FloatVectors.FLOATS.length()];
        float[] y = new float[x.length];
        java.util.Arrays.fill(x, -1000f);
        x[0] = 0f;
        x[x.length - 1] = Float.NEGATIVE_INFINITY;
        FloatVectors.exp(FloatVector.fromArray(FloatVectors.FLOATS, x, 0)).intoArray(y, 0);
        assertEquals(1f, y[0]);
        for (int i = 1; i < y.length; i++) {
            assertEquals(0f, y[i], "e^" + x[i]);
        }
    }
}
