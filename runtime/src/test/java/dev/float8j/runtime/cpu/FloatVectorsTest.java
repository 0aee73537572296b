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

    /** lanes summed as the documented tree: lane i + lane i + half into lane i, halving; then lane 0. */
    private static float treeSum(float[] lanes) {
        float[] v = lanes.clone();
        for (int half = v.length / 2; half > 0; half /= 2) {
            for (int i = 0; i < half; i++) {
                v[i] = v[i] + v[i + half];
            }
        }
        return v[0];
    }

    @Test
    void laneSumsAddInTheDocumentedTree() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        float[] wide = new float[FloatVectors.FLOATS.length()];
        float[] narrow = new float[FloatVectors.NARROW.length()];
        for (int trial = 0; trial < 2000; trial++) {
            for (float[] lanes : new float[][] {wide, narrow}) {
                for (int i = 0; i < lanes.length; i++) {
                    // magnitudes from 1e-3 to 1e5 with both signs: the order of additions changes the rounded sum
                    lanes[i] = (float) (random.nextDouble(-1, 1) * Math.pow(10, random.nextInt(-3, 6)));
                }
            }
            assertEquals(Float.floatToRawIntBits(treeSum(wide)),
                    Float.floatToRawIntBits(FloatVectors.sumLanes(FloatVector.fromArray(FloatVectors.FLOATS, wide, 0))),
                    "wide trial " + trial);
            assertEquals(Float.floatToRawIntBits(treeSum(narrow)), Float.floatToRawIntBits(
                    FloatVectors.sumNarrowLanes(FloatVector.fromArray(FloatVectors.NARROW, narrow, 0))),
                    "narrow trial " + trial);
        }
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
