package dev.float8j.runtime.cpu;

import dev.float8j.plan.Fp8Format;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FP8 conversions on whole vectors with integer bit operations, bit-identical to
 * {@link Fp8Format#encodeSaturating} (round to nearest even, saturate to ±max) and {@link Fp8Format#decode}.
 */
final class Fp8Vectors {
    static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    /** One byte per float lane. */
    static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_PREFERRED.withShape(
            jdk.incubator.vector.VectorShape.forBitSize(FLOATS.length() * 8));
    /** One short per float lane. */
    static final VectorSpecies<Short> SHORTS = ShortVector.SPECIES_PREFERRED.withShape(
            jdk.incubator.vector.VectorShape.forBitSize(FLOATS.length() * 16));
    static final int LANES = FLOATS.length();

    private static final float TWO_POW_23 = 8388608f;

    private Fp8Vectors() {
    }

    /** The constants of one format's conversions. */
    static final class Codec {
        final Fp8Format format;
        private final int mantissaShift;
        /** Half an ulp of the code less one, minus the exponent rebias (pre-shifted): one addend for both. */
        private final int normalBias;
        /** The smallest normal code: exponent field 1, mantissa 0. */
        private final int minNormalCode;
        private final int minNormalBits;
        private final float subnormalScale;
        private final int maxCode;
        private final float decodeScale;
        private final boolean e4m3;

        Codec(Fp8Format format) {
            this.format = format;
            int mantissaBits = format.mantissaBits();
            int bias = format == Fp8Format.E4M3FN ? 7 : 15;
            this.mantissaShift = 23 - mantissaBits;
            this.normalBias = (1 << (mantissaShift - 1)) - 1 - ((127 - bias) << 23);
            this.minNormalCode = 1 << mantissaBits;
            this.minNormalBits = Float.floatToRawIntBits(format.minNormal());
            this.subnormalScale = Math.scalb(1f, bias - 1 + mantissaBits);
            this.maxCode = Byte.toUnsignedInt(format.encodeSaturating(format.max()));
            this.decodeScale = Math.scalb(1f, 127 - bias);
            this.e4m3 = format == Fp8Format.E4M3FN;
        }

        /**
         * Codes (in the low byte of each int lane) of finite or infinite values; NaN is not handled.
         * The common case, every lane in the normal range, takes a short path; a vector with a lane that
         * is subnormal, overflows or rounds past the largest code takes the full one.
         */
        IntVector encode(FloatVector v) {
            IntVector bits = v.reinterpretAsInts();
            IntVector magnitude = bits.and(0x7FFF_FFFF);
            // Round the mantissa half to even at bit mantissaShift and rebias the exponent in one addition
            // (exact for normal values, where the sum cannot go negative); a carry moves into the exponent.
            IntVector lsb = magnitude.lanewise(VectorOperators.LSHR, mantissaShift).and(1);
            IntVector code = magnitude.add(normalBias).add(lsb).lanewise(VectorOperators.LSHR, mantissaShift);
            // Below the normal range the short path gives a code under minNormalCode or a wrapped, huge
            // one (the only subnormal inputs it maps into range round up to the smallest normal, where it
            // is right); past the largest finite code it gives more than maxCode.
            if (code.lt(minNormalCode).or(code.compare(VectorOperators.GT, maxCode)).anyTrue()) {
                // The full path, written out here: a vector handed to a method C2 does not inline is boxed.
                // Below the smallest normal: the value in units of the smallest subnormal, rounded half to
                // even by adding 2^23 (the sum's ulp is 1), then read back from the float's mantissa.
                IntVector subnormal = magnitude.reinterpretAsFloats().mul(subnormalScale).add(TWO_POW_23)
                        .reinterpretAsInts().sub(Float.floatToRawIntBits(TWO_POW_23));
                code = code.blend(subnormal, magnitude.lt(minNormalBits)).min(maxCode);
            }
            return code.or(bits.lanewise(VectorOperators.LSHR, 24).and(0x80));
        }

        /** Encodes LANES floats times scale into dst[off ..]. */
        void encodeInto(FloatVector v, byte[] dst, int off) {
            encode(v).convertShape(VectorOperators.I2B, BYTES, 0).reinterpretAsBytes().intoArray(dst, off);
        }

        /** The exact values of LANES codes from src[off ..]. */
        FloatVector decode(byte[] src, int off) {
            IntVector code = (IntVector) ByteVector.fromArray(BYTES, src, off).convertShape(VectorOperators.B2I, INTS, 0);
            IntVector magnitude = code.and(0x7F);
            FloatVector value = magnitude.lanewise(VectorOperators.LSHL, mantissaShift).reinterpretAsFloats()
                    .mul(decodeScale);
            IntVector bits = value.reinterpretAsInts().or(code.and(0x80).lanewise(VectorOperators.LSHL, 24));
            VectorMask<Integer> special = e4m3 ? magnitude.eq(0x7F) : magnitude.compare(VectorOperators.GE, 0x7C);
            if (special.anyTrue()) {
                IntVector nanOrInf = e4m3 ? IntVector.broadcast(INTS, 0x7FC0_0000)
                        : IntVector.broadcast(INTS, 0x7FC0_0000).blend(0x7F80_0000, magnitude.eq(0x7C));
                bits = bits.blend(nanOrInf.or(code.and(0x80).lanewise(VectorOperators.LSHL, 24)), special);
            }
            return bits.reinterpretAsFloats();
        }
    }

    /** LANES bfloat16 values from src[off ..] widened to float. */
    static FloatVector loadBf16(short[] src, int off) {
        return ((IntVector) ShortVector.fromArray(SHORTS, src, off).convertShape(VectorOperators.S2I, INTS, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }
}
