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
            ShortVector code = (ShortVector) ByteVector.fromArray(BYTES, codes, i)
                    .convertShape(VectorOperators.B2S, SHORTS, 0);
            ShortVector index = code.and((short) 0x3F);
            ShortVector bits = index.selectFrom(low0, low1)
                    .blend(index.selectFrom(high0, high1), code.and((short) 0x40).compare(VectorOperators.NE, 0));
            bits.or(code.and((short) 0x80).lanewise(VectorOperators.LSHL, 8)).intoMemorySegment(dst, 2L * i, ORDER);
        }
        for (; i < off + count; i++) {
            int code = codes[i];
            dst.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (table[code & 0x7F] | (code & 0x80) << 8));
        }
    }
}
