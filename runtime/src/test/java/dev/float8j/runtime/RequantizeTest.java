package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The backward copy of an operand: requantized along the other axis, or for transposeable granularities the same codes. */
class RequantizeTest {
    private final ReferenceBackend backend = new ReferenceBackend();

    @ParameterizedTest
    @EnumSource(ScalingGranularity.class)
    void requantizeQuantizesTheDequantizedValuesAlongTheOtherAxis(ScalingGranularity g) {
        for (boolean pow2 : new boolean[] {false, true}) {
            for (int axis = 0; axis < 2; axis++) {
                Tensor x = QuantReference.randomTensor(21, 129, 257).to(DType.BF16);
                QuantSpec spec = new QuantSpec(Fp8Format.E4M3FN, g, axis, pow2);
                Float8Tensor q = backend.quantize(x, spec);
                Float8Tensor r = backend.requantize(q, spec.otherAxis());

                float[][] dequantized = new float[q.rows()][q.cols()];
                for (int i = 0; i < q.rows(); i++) {
                    for (int j = 0; j < q.cols(); j++) {
                        dequantized[i][j] = (float) QuantReference.dequantized(q, i, j);
                    }
                }
                QuantSpec other = spec.otherAxis();
                float[] expectedScales = QuantReference.scales(dequantized, other);
                assertArrayEquals(expectedScales, r.scales(), spec + " requantized: scales");
                for (int i = 0; i < q.rows(); i++) {
                    for (int j = 0; j < q.cols(); j++) {
                        int b = QuantReference.blockIndex(g, other.axis(), q.rows(), q.cols(), i, j);
                        assertEquals(other.format().encodeSaturating(dequantized[i][j] * expectedScales[b]),
                                r.codes()[i * q.cols() + j], spec + " requantized at " + i + "," + j);
                    }
                }
                assertEquals(other, r.spec());
                assertEquals(DType.BF16, r.originalDType(), "the original dtype survives requantization");
                assertArrayEquals(q.shape(), r.shape());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"TENSORWISE", "BLOCK_128X128"})
    void transposeableGranularitiesGiveTheBackwardCopyWithoutRequantizing(ScalingGranularity g) {
        for (Fp8Format format : Fp8Format.values()) {
            for (boolean pow2 : new boolean[] {false, true}) {
                Tensor x = QuantReference.randomTensor(23, 300, 257);
                QuantSpec forward = new QuantSpec(format, g, 1, pow2);
                Float8Tensor q = backend.quantize(x, forward);
                Float8Tensor backward = q.alongOtherAxis();
                assertEquals(0, backward.axis());
                assertSame(q.codes(), backward.codes(), "codes are shared, not copied");
                assertSame(q.scalesForBackend(), backward.scalesForBackend());
                // the real property: quantizing along the other axis from the original gives exactly this copy
                Float8Tensor direct = backend.quantize(x, forward.otherAxis());
                assertArrayEquals(direct.codes(), backward.codes(), forward + ": codes");
                assertArrayEquals(direct.scales(), backward.scales(), forward + ": scales");
                assertArrayEquals(backend.dequantize(q).data(), backend.dequantize(backward).data());
                assertSame(q.codes(), backward.alongOtherAxis().codes());
                assertEquals(1, backward.alongOtherAxis().axis());

                // requantizing instead costs nothing in codes either: each code comes back unchanged
                Float8Tensor requantized = backend.requantize(q, forward.otherAxis());
                assertArrayEquals(q.codes(), requantized.codes(), forward + ": requantized codes");
                for (int i = 0; i < q.scales().length; i++) {
                    assertEquals(q.scales()[i], requantized.scales()[i], pow2 ? 0 : Math.ulp(q.scales()[i]),
                            forward + ": requantized scale " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ROWWISE", "TILE_1X128", "MX_1X32"})
    void otherGranularitiesHaveNoTransposedView(ScalingGranularity g) {
        Float8Tensor q = backend.quantize(QuantReference.randomTensor(29, 64, 256), QuantSpec.of(Fp8Format.E4M3FN, g, 1));
        IllegalStateException e = assertThrows(IllegalStateException.class, q::alongOtherAxis);
        assertTrue(e.getMessage().contains(g.name()) && e.getMessage().contains("requantize"), e.getMessage());
        // and quantizing along the other axis really gives other codes, which is why
        Float8Tensor direct = backend.quantize(QuantReference.randomTensor(29, 64, 256), QuantSpec.of(Fp8Format.E4M3FN, g, 0));
        assertTrue(!Arrays.equals(direct.codes(), q.codes()));
    }

    @ParameterizedTest
    @EnumSource(ScalingGranularity.class)
    void quantizeBothAxesEqualsTwoQuantizations(ScalingGranularity g) {
        Tensor x = QuantReference.randomTensor(31, 129, 200);
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
        Float8Tensor[] both = backend.quantizeBothAxes(x, spec, spec.withAxis(0));
        Float8Tensor along1 = backend.quantize(x, spec);
        Float8Tensor along0 = backend.quantize(x, spec.withAxis(0));
        assertEquals(1, both[0].axis());
        assertEquals(0, both[1].axis());
        assertArrayEquals(along1.codes(), both[0].codes());
        assertArrayEquals(along1.scales(), both[0].scales());
        assertArrayEquals(along0.codes(), both[1].codes());
        assertArrayEquals(along0.scales(), both[1].scales());
    }
}
