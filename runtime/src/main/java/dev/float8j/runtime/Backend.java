package dev.float8j.runtime;

import dev.float8j.runtime.quant.Float8Tensor;
import dev.float8j.runtime.quant.QuantSpec;

/**
 * The operations a linear layer's forward and backward passes need, for one kind of hardware.
 *
 * <p>Gemms follow one convention: each operand names the axis it is contracted along, and
 * {@code C[i][j] = sum_k A(i, k) * B(j, k)}, where {@code A(i, k)} is element (i, k) of A if A's axis is 1
 * and element (k, i) if it is 0. So for x [M,K], W [N,K] and dY [M,N]:
 * <ul>
 *   <li>output: y = x·Wᵀ is {@code gemm(x along 1, W along 1)}, [M,N];</li>
 *   <li>grad_input: dX = dY·W is {@code gemm(dY along 1, W along 0)}, [M,K];</li>
 *   <li>grad_weight: dW = dYᵀ·x is {@code gemm(dY along 0, x along 0)}, [N,K].</li>
 * </ul>
 * A quantized operand's axis is the one its scales run along, so no operand is ever transposed in memory.
 */
public interface Backend {

    String name();

    /**
     * Quantizes x (viewed as rows x cols) to FP8 as spec says.
     *
     * @throws dev.float8j.runtime.quant.NonFiniteException if x holds NaN or Inf
     */
    Float8Tensor quantize(Tensor x, QuantSpec spec);

    /** Quantizes x along both axes in one pass: element 0 along axis 1, element 1 along axis 0. */
    default Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        return new Float8Tensor[] {quantize(x, alongColumns.withAxis(1)), quantize(x, alongRows.withAxis(0))};
    }

    /** The F32 tensor that q stands for: decode(code) / scale, element by element. */
    Tensor dequantize(Float8Tensor q);

    /**
     * Quantizes an FP8 tensor again under another spec (usually the other axis), from its dequantized
     * values. Transposeable granularities need no requantization: see {@link Float8Tensor#alongOtherAxis()}.
     */
    Float8Tensor requantize(Float8Tensor q, QuantSpec spec);

    /** The scaled FP8 gemm {@code C = A·Bᵀ} under the axis convention above, accumulated and returned in F32. */
    Tensor gemm(Float8Tensor a, Float8Tensor b);

    /** The high-precision gemm under the same convention: F32 or BF16 inputs, F32 accumulation and result. */
    Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis);
}
