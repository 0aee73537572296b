package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.nn.Float8Matmul.GemmInput;
import org.junit.jupiter.api.Test;

/** The stateless gemm of the float8 matmul unit, with operands in high precision or already in FP8. */
class Float8MatmulTest {
    final Backend backend = new ReferenceBackend();

    /** The output gemm of a layer's forward, as a reference for the same gemm through Float8Matmul.gemm. */
    static Tensor layerOutput(Float8Plan plan, Tensor x, Linear weights) {
        Float8Linear layer = new Float8Linear(Float8LinearTest.IN, Float8LinearTest.OUT, plan);
        System.arraycopy(weights.weight().value().data(), 0, layer.weight().value().data(), 0,
                weights.weight().value().size());
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            return layer.forward(x);
        }
    }

    @Test
    void fp8OperandsAreUsedAsIsAndGiveTheSameResultAsQuantizingInside() {
        for (Float8Plan plan : Float8LinearTest.plans()) {
            Linear owner = new Linear(Float8LinearTest.IN, Float8LinearTest.OUT);
            Tensor x = Float8LinearTest.input(1).reshape(12, Float8LinearTest.IN);
            Tensor w = owner.weight().value();
            Float8Matmul unit = new Float8Matmul(owner, plan);
            Tensor expected = layerOutput(plan, x, owner);

            Tensor fromHighPrecision = unit.gemm(backend, Gemm.OUTPUT, GemmInput.of(x), GemmInput.of(w), DType.F32);
            assertArrayEquals(expected.data(), fromHighPrecision.data(), 0f, plan.toString());

            Float8Tensor xq = backend.quantize(x, plan.output().first());
            Float8Tensor wq = backend.quantize(w, plan.output().second());
            Tensor fromFp8 = unit.gemm(backend, Gemm.OUTPUT, GemmInput.of(xq), GemmInput.of(wq), DType.F32);
            assertArrayEquals(expected.data(), fromFp8.data(), 0f, plan.toString());
            assertFalse(xq.isReleased() || wq.isReleased(), "the caller's FP8 operands stay the caller's");
        }
    }

    @Test
    void aTransposeableFp8OperandIsReadAlongTheOtherAxis() {
        Float8Plan plan = Float8Plan.tensorwise();
        Linear owner = new Linear(Float8LinearTest.IN, Float8LinearTest.OUT);
        Tensor x = Float8LinearTest.input(1).reshape(12, Float8LinearTest.IN);
        Tensor w = owner.weight().value();
        // W quantized along N, as grad_input keeps it, serves the output gemm along K
        Float8Tensor wAlongN = backend.quantize(w, plan.gradInput().second());
        Tensor y = new Float8Matmul(owner, plan).gemm(backend, Gemm.OUTPUT, GemmInput.of(x), GemmInput.of(wAlongN), DType.F32);
        assertArrayEquals(layerOutput(plan, x, owner).data(), y.data(), 0f);
        assertFalse(wAlongN.isReleased());
    }

    @Test
    void anFp8OperandWithAnotherSpecIsRejected() {
        Linear owner = new Linear(Float8LinearTest.IN, Float8LinearTest.OUT);
        Tensor x = Float8LinearTest.input(1).reshape(12, Float8LinearTest.IN);
        Float8Plan rowwise = Float8Plan.rowwise();
        Float8Tensor xAlongM = backend.quantize(x, rowwise.output().first().otherAxis());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Float8Matmul(owner, rowwise)
                .gemm(backend, Gemm.OUTPUT, GemmInput.of(xAlongM), GemmInput.of(owner.weight().value()), DType.F32));
        assertTrue(e.getMessage().contains("input of the output gemm must be quantized as"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Float8Matmul(owner, Float8Plan.highPrecision())
                .gemm(backend, Gemm.OUTPUT, GemmInput.of(xAlongM), GemmInput.of(owner.weight().value()), DType.F32));
    }
}
