package dev.float8j.runtime.cpu;

import dev.float8j.plan.Fp8Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * FP8 codes widened to their BF16 bits by table lookup: every E4M3 and E5M2 value is a BF16 value, so the 128
 * magnitudes' bits are a table, and a code's BF16 bits are its magnitude's entry with the code's sign bit on top.
 * With 512-bit vectors the table is four registers, and two two-register lookups (AVX-512's vpermi2w) widen 32
 * codes, where decoding through floats takes two float vectors of 16 and their conversions: OneDnnGemm's widening
 * of two 2048 x 2048 operands went from 2.2 ms to 0.8-1.4 on a two-core AMX machine (benchmarks/results/cpu.md, Run Q).
 * Only for 32-lane short vectors: with narrower ones each lookup covers fewer entries, and the float decode stays
 * ({@link #available}).
 */
final class Bf16Widening {
    private static final VectorSpecies<Short> SHORTS = ShortVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_PREFERRED.withShape(
            VectorShape.forBitSize(SHORTS.length() * 8));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final int LANES = SHORTS.length();

    /** A magnitude's BF16 bits, magnitudes 0..127. */
    private final short[] table = new short[128];
    private final ShortVector low0;
    private final ShortVector low1;
    private final ShortVector high0;
    private final ShortVector high1;

    Bf16Widening(Fp8Format format) {
        for (int code = 0; code < 128; code++) {
            table[code] = (short) (Float.floatToRawIntBits(format.decode((byte) code)) >>> 16);
        }
        if (!available()) {
            throw new IllegalStateException("table widening needs 32-lane short vectors, this JVM prefers " + LANES);
        }
        low0 = ShortVector.fromArray(SHORTS, table, 0);
        low1 = ShortVector.fromArray(SHORTS, table, 32);
        high0 = ShortVector.fromArray(SHORTS, table, 64);
        high1 = ShortVector.fromArray(SHORTS, table, 96);
    }

    /** True where the preferred short vector has 32 lanes (512-bit vectors). */
    static boolean available() {
        return LANES == 32;
    }

    /** codes[off .. off + count) as BF16 bits into dst from element off (2 bytes each). */
    void widen(byte[] codes, int off, int count, MemorySegment dst) {
        int i = off;
        int vectorEnd = off + count - count % LANES;
        for (; i < vectorEnd; i += LANES) {
            ShortVector code = codesAt(codes, i);
            magnitudeBits(code).or(code.and((short) 0x80).lanewise(VectorOperators.LSHL, 8))
                    .intoMemorySegment(dst, 2L * i, ORDER);
        }
        for (; i < off + count; i++) {
            int code = codes[i];
            dst.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (table[code & 0x7F] | (code & 0x80) << 8));
        }
    }

    /** LANES codes from codes[i ..], one per short lane (sign-extended: only their low 8 bits are read). */
    private static ShortVector codesAt(byte[] codes, int i) {
        return (ShortVector) ByteVector.fromArray(BYTES, codes, i).convertShape(VectorOperators.B2S, SHORTS, 0);
    }

    /** Each lane's BF16 bits of its code's magnitude: two two-register lookups, picked by the magnitude's bit 6. */
    private ShortVector magnitudeBits(ShortVector code) {
        ShortVector index = code.and((short) 0x3F);
        return index.selectFrom(low0, low1)
                .blend(index.selectFrom(high0, high1), code.and((short) 0x40).compare(VectorOperators.NE, 0));
    }

    /** True if {@link #widenFolded} takes blocks of blockCols codes: each vector then lies inside one block. */
    static boolean foldsBlocksOf(int blockCols) {
        return available() && blockCols % LANES == 0;
    }

    /**
     * As {@link #widen}, with each value divided by its power-of-two scale (folded, as OneDnnGemm folds MX and other
     * power-of-two scales): for scale 2^s the BF16 exponent drops by s. The codes from off on form one row's blocks of
     * blockCols ({@link #foldsBlocksOf}); block b's scale is scales[scaleOff + b]. False, with dst partly written, if a
     * result would not be an exact normal BF16 value: a scale that is no normal power of two, an exponent pushed out
     * of range, NaN or infinity.
     */
    boolean widenFolded(byte[] codes, int off, int count, MemorySegment dst, float[] scales, int scaleOff,
            int blockCols) {
        int vectorEnd = count - count % LANES;
        int c = 0;
        for (; c < vectorEnd; c += LANES) {
            int s = powerOfTwoExponent(scales[scaleOff + c / blockCols]);
            if (s == NOT_A_POWER_OF_TWO) {
                return false;
            }
            ShortVector code = codesAt(codes, off + c);
            ShortVector bits = magnitudeBits(code);
            ShortVector exponent = bits.lanewise(VectorOperators.LSHR, 7);
            ShortVector scaledExponent = exponent.sub((short) s);
            var nonzero = code.and((short) 0x7F).compare(VectorOperators.NE, 0);
            if (exponent.compare(VectorOperators.EQ, (short) 0xFF)
                    .or(scaledExponent.compare(VectorOperators.LT, (short) 1).and(nonzero))
                    .or(scaledExponent.compare(VectorOperators.GT, (short) 0xFE).and(nonzero)).anyTrue()) {
                return false;
            }
            bits.sub((short) (s << 7)).blend((short) 0, nonzero.not())
                    .or(code.and((short) 0x80).lanewise(VectorOperators.LSHL, 8))
                    .intoMemorySegment(dst, 2L * (off + c), ORDER);
        }
        for (; c < count; c++) {
            int s = powerOfTwoExponent(scales[scaleOff + c / blockCols]);
            int code = codes[off + c];
            int bits = table[code & 0x7F];
            int exponent = bits >>> 7;
            if (s == NOT_A_POWER_OF_TWO || exponent == 0xFF
                    || ((code & 0x7F) != 0 && (exponent - s < 1 || exponent - s > 0xFE))) {
                return false;
            }
            int scaled = (code & 0x7F) == 0 ? 0 : bits - (s << 7);
            dst.setAtIndex(ValueLayout.JAVA_SHORT, off + c, (short) (scaled | (code & 0x80) << 8));
        }
        return true;
    }

    private static final int NOT_A_POWER_OF_TWO = Integer.MIN_VALUE;

    /** s where scale is the normal float 2^s, else NOT_A_POWER_OF_TWO. */
    private static int powerOfTwoExponent(float scale) {
        int bits = Float.floatToRawIntBits(scale);
        int exponent = bits >>> 23;  // sign 0 for a positive scale
        return (bits & 0x7F_FFFF) != 0 || exponent == 0 || exponent >= 0xFF ? NOT_A_POWER_OF_TWO : exponent - 127;
    }
}
