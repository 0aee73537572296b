package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Fp8Vectors.FLOATS;
import static dev.float8j.runtime.cpu.Fp8Vectors.INTS;
import static dev.float8j.runtime.cpu.Fp8Vectors.SHORTS;

import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * F32 values to BF16 bits a vector at a time, bit-identical to {@link BFloat16#fromFloat}: the upper 16 bits, rounded
 * to nearest even by adding 0x7FFF plus the kept part's lowest bit, and a NaN kept a quiet NaN. A gemm with a BF16
 * result rounds its F32 sums this way as it writes them; the scalar loop over a new array on one thread that did it
 * before made a rowwise 2048^3 gemm with a BF16 result take 1.5-1.8x as long (benchmarks/results/cpu.md, Run U).
 */
final class Bf16Rounding {
    private Bf16Rounding() {
    }

    /** v's lanes as BF16 bits into dst[offset ..]. */
    static void round(FloatVector v, short[] dst, int offset) {
        IntVector bits = v.reinterpretAsInts();
        IntVector kept = bits.lanewise(VectorOperators.LSHR, 16);
        IntVector rounded = bits.add(kept.and(1)).add(0x7FFF).lanewise(VectorOperators.LSHR, 16);
        rounded = rounded.blend(kept.or(0x40), v.test(VectorOperators.IS_NAN).cast(INTS));
        ((ShortVector) rounded.convertShape(VectorOperators.I2S, SHORTS, 0)).intoArray(dst, offset);
    }

    /**
     * values (an op's F32 result) as a tensor of dtype: wrapped as they are, or rounded to BF16 on the threads in
     * items of about grain values (bit for bit {@code HostTensors.result}'s scalar rounding).
     */
    static Tensor result(float[] values, DType dtype, CpuThreads threads, int grain, int... shape) {
        if (dtype == DType.F32) {
            return Tensor.of(values, shape);
        }
        short[] bits = new short[values.length];
        round(values, bits, threads, grain);
        return Tensor.ofBf16(bits, shape);
    }

    /** src as BF16 bits into dst (of src's length), on the threads in items of grain values. */
    static void round(float[] src, short[] dst, CpuThreads threads, int grain) {
        int items = (src.length + grain - 1) / grain;
        threads.forEachItem(items, item -> round(src, item * grain, Math.min(src.length, (item + 1) * grain), dst));
    }

    /** src[from .. to) as BF16 bits into dst[from .. to). */
    static void round(float[] src, int from, int to, short[] dst) {
        int i = from;
        for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
            round(FloatVector.fromArray(FLOATS, src, i), dst, i);
        }
        for (; i < to; i++) {
            dst[i] = BFloat16.fromFloat(src[i]);
        }
    }
}
