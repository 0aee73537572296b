package dev.float8j.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.annotations.Backward;
import org.junit.jupiter.api.Test;

class Float8PlanTest {

    @Test
    void recipesQuantizeEachOperandAlongItsContractionAxis() {
        Float8Plan blockwise = Float8Plan.blockwise();
        assertEquals(QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1), blockwise.spec(Gemm.OUTPUT, Operand.INPUT));
        assertEquals(QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.BLOCK_128X128, 0),
                blockwise.spec(Gemm.GRAD_INPUT, Operand.WEIGHT));
        assertEquals(QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 0),
                blockwise.spec(Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT));
        assertFalse(Float8Plan.rowwiseGradWeightHighPrecision().gradWeight().fp8());
        assertTrue(Float8Plan.mx().spec(Gemm.OUTPUT, Operand.WEIGHT).powerOfTwoScales());
    }

    @Test
    void savedInputFollowsThePolicyUnlessTheGranularityIsTransposeable() {
        assertEquals(Float8Plan.SavedInput.HIGH_PRECISION, Float8Plan.rowwise().savedInput());
        assertEquals(Float8Plan.SavedInput.FORWARD_FP8_REQUANTIZED,
                Float8Plan.rowwise().withBackward(Backward.REQUANTIZE).savedInput());
        assertEquals(Float8Plan.SavedInput.BOTH_AXES_COPY, Float8Plan.blockwise().withBackward(Backward.BOTH_AXES).savedInput());
        for (Backward policy : Backward.values()) {
            assertEquals(Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED, Float8Plan.tensorwise().withBackward(policy).savedInput());
            assertEquals(Float8Plan.SavedInput.HIGH_PRECISION,
                    Float8Plan.rowwiseGradWeightHighPrecision().withBackward(policy).savedInput());
        }
    }

    @Test
    void tensorwiseForwardWithAnotherFormatForGradWeightIsNotTransposed() {
        QuantSpec e5m2 = new QuantSpec(Fp8Format.E5M2, ScalingGranularity.TENSORWISE, 0, false);
        Float8Plan plan = Float8Plan.tensorwise().with(new GemmPlan(Gemm.GRAD_WEIGHT,
                Float8Plan.tensorwise().gradWeight().first(), e5m2));
        assertEquals(Float8Plan.SavedInput.HIGH_PRECISION, plan.savedInput());
    }

    @Test
    void operandsMustBeScaledAlongTheirContractionAxis() {
        QuantSpec alongRows = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GemmPlan(Gemm.OUTPUT, alongRows, alongRows));
        assertEquals("the input of the output gemm is contracted along axis 1, its spec says axis 0", e.getMessage());
    }

    @Test
    void fastAccumulationIsOfferedForTheOutputAndGradInputGemmsOfFp8Plans() {
        Float8Plan plan = Float8Plan.rowwise().withFastAccumulation(Gemm.OUTPUT, Gemm.GRAD_INPUT);
        assertTrue(plan.output().fastAccumulation());
        assertTrue(plan.gradInput().fastAccumulation());
        assertFalse(plan.gradWeight().fastAccumulation());
        assertFalse(Float8Plan.rowwise().output().fastAccumulation(), "off by default");
        assertEquals(Float8Plan.rowwise().output().first(), plan.output().first(), "the specs stay");
        assertTrue(plan.toString().contains(", fast accumulation)"), plan.toString());
        assertNotEquals(Float8Plan.rowwise(), plan);
        assertTrue(plan.withDelayedScaling(new DelayedScaling(16, DelayedScaling.AmaxReduction.MAX))
                .output().fastAccumulation(), "delayed scaling keeps it");

        IllegalArgumentException gradWeight = assertThrows(IllegalArgumentException.class,
                () -> Float8Plan.rowwise().withFastAccumulation(Gemm.GRAD_WEIGHT));
        assertEquals("the grad_weight gemm adds into the weight's F32 gradient at full precision: fast accumulation is "
                + "offered for the output and grad_input gemms", gradWeight.getMessage());
        IllegalArgumentException highPrecision = assertThrows(IllegalArgumentException.class,
                () -> Float8Plan.rowwiseGradWeightHighPrecision().with(GemmPlan.highPrecision(Gemm.GRAD_INPUT))
                        .withFastAccumulation(Gemm.GRAD_INPUT));
        assertEquals("the grad_input gemm runs in high precision: fast accumulation is for FP8 gemms",
                highPrecision.getMessage());
    }

    @Test
    void mixingFp8WithHighPrecisionIsAnError() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new GemmPlan(Gemm.GRAD_WEIGHT, spec, null));
        assertEquals("the grad_weight gemm quantizes its grad_output but not its input: float8j does not mix FP8 and "
                + "high-precision operands in one gemm; give both a spec, or neither (GemmPlan.highPrecision)", e.getMessage());
    }
}
