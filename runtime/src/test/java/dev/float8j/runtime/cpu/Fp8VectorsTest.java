package dev.float8j.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.float8j.plan.Fp8Format;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The vectorized FP8 encoder and decoder against the scalar {@link Fp8Format}, on many float bit patterns. */
class Fp8VectorsTest {
    private static final int BATCH = 1 << 16;

    /** Encodes bits[0 .. count) both ways and fails on the first difference. */
    private static void check(Fp8Format format, Fp8Vectors.Codec codec, int[] bits, int count, float[] values,
            byte[] codes) {
        for (int i = 0; i < count; i++) {
            values[i] = Float.intBitsToFloat(bits[i]);
        }
        int n = count / Fp8Vectors.LANES * Fp8Vectors.LANES;
        for (int i = 0; i < n; i += Fp8Vectors.LANES) {
            codec.encodeInto(FloatVector.fromArray(Fp8Vectors.FLOATS, values, i), codes, i);
        }
        for (int i = 0; i < n; i++) {
            byte expected = format.encodeSaturating(values[i]);
            if (codes[i] != expected) {
                fail(format + ": encoding " + values[i] + " (bits 0x" + Integer.toHexString(bits[i]) + ") gave 0x"
                        + Integer.toHexString(codes[i] & 0xFF) + ", expected 0x" + Integer.toHexString(expected & 0xFF));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void encodeMatchesScalarOnDenseSweepsHalfwayPointsAndRandomBits(Fp8Format format) {
        Fp8Vectors.Codec codec = new Fp8Vectors.Codec(format);
        int[] bits = new int[BATCH];
        float[] values = new float[BATCH];
        byte[] codes = new byte[BATCH];
        int n = 0;
        // Every float bit pattern, both signs, from well below the smallest subnormal to well past max,
        // with a stride of 5 ulps (so every residue of the low bits occurs).
        int lo = Float.floatToRawIntBits(format.minSubnormal() / 16);
        int hi = Float.floatToRawIntBits(format.max() * 4);
        for (int sign = 0; sign < 2; sign++) {
            for (int b = lo; b <= hi; b += 5) {
                bits[n++] = b | (sign << 31);
                if (n == BATCH) {
                    check(format, codec, bits, n, values, codes);
                    n = 0;
                }
            }
        }
        // Every exact halfway point between neighbouring codes and its two float neighbours, in every binade.
        int shift = 23 - format.mantissaBits();
        for (int exponent = 0; exponent < 255; exponent++) {
            for (int top = 0; top < (1 << format.mantissaBits()) + 1; top++) {
                for (int sub = 0; sub < 12; sub++) {
                    // the rounding unit of normals (sub = 0) and of ever lower subnormal binades
                    int unit = 1 << Math.min(23, shift + sub);
                    int halfway = (exponent << 23) + top * unit + unit / 2;
                    for (int d = -1; d <= 1; d++) {
                        int b = halfway + d;
                        if ((b & 0x7F80_0000) == 0x7F80_0000 && (b & 0x7F_FFFF) != 0) {
                            continue; // NaN: quantizers never encode it
                        }
                        bits[n++] = b;
                        bits[n++] = b | 0x8000_0000;
                        if (n >= BATCH - 2) {
                            check(format, codec, bits, n, values, codes);
                            n = 0;
                        }
                    }
                }
            }
        }
        // Random bit patterns anywhere, infinities included, NaN excluded.
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 4_000_000; i++) {
            int b = random.nextInt();
            if (Float.isNaN(Float.intBitsToFloat(b))) {
                b = 0x7F80_0000 | (b & 0x8000_0000);
            }
            bits[n++] = b;
            if (n == BATCH) {
                check(format, codec, bits, n, values, codes);
                n = 0;
            }
        }
        check(format, codec, bits, n - n % Fp8Vectors.LANES, values, codes);
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void decodeMatchesTableForEveryCode(Fp8Format format) {
        Fp8Vectors.Codec codec = new Fp8Vectors.Codec(format);
        byte[] all = new byte[256];
        for (int i = 0; i < 256; i++) {
            all[i] = (byte) i;
        }
        float[] out = new float[256];
        for (int i = 0; i < 256; i += Fp8Vectors.LANES) {
            codec.decode(all, i).intoArray(out, i);
        }
        for (int i = 0; i < 256; i++) {
            assertEquals(Float.floatToIntBits(format.decode((byte) i)), Float.floatToIntBits(out[i]),
                    format + " code 0x" + Integer.toHexString(i));
        }
    }
}
