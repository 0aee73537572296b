package dev.float8j.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DelayedScalingPlanTest {

    @Test
    void theNamedRecipeScalesEveryOperandFromAHistoryOf16() {
        Float8Plan plan = Float8Recipes.named("tensorwise_delayed");
        for (Gemm g : Gemm.values()) {
            for (QuantSpec s : new QuantSpec[] {plan.gemm(g).first(), plan.gemm(g).second()}) {
                assertEquals(new DelayedScaling(16, DelayedScaling.AmaxReduction.MAX), s.delayed(), g + " " + s);
                assertEquals(ScalingGranularity.TENSORWISE, s.granularity());
            }
        }
        // the saved x still serves grad_weight transposed, and the weight's supplied copy still serves grad_input
        assertEquals(Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED, plan.savedInput());
        assertEquals(plan.output().second().otherAxis(), plan.gradInput().second());
        assertTrue(plan.toString().contains("delayed(max of 16)"), plan.toString());
    }

    @Test
    void onlyTensorwiseOperandsCanBeDelayed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new QuantSpec(Fp8Format.E4M3FN,
                ScalingGranularity.ROWWISE, 1, false, DelayedScaling.maxOfLast(16)));
        assertTrue(e.getMessage().contains("TENSORWISE"), e.getMessage());
        // a plan made delayed keeps current scaling where the granularity is not tensorwise
        Float8Plan rowwise = Float8Plan.rowwise().withDelayedScaling(DelayedScaling.maxOfLast(16));
        assertNull(rowwise.output().first().delayed());
    }

    @Test
    void historiesAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> DelayedScaling.maxOfLast(0));
        assertThrows(IllegalArgumentException.class, () -> DelayedScaling.maxOfLast(DelayedScaling.MAX_HISTORY + 1));
        assertThrows(IllegalArgumentException.class, () -> new DelayedScaling(4, null));
    }

    @Test
    void theAxisMovesAndTheHistorySettingStays() {
        QuantSpec s = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1)
                .withDelayedScaling(new DelayedScaling(4, DelayedScaling.AmaxReduction.MOST_RECENT));
        assertEquals(s.delayed(), s.otherAxis().delayed());
        assertEquals(0, s.otherAxis().axis());
        assertEquals("QuantSpec[format=E4M3FN, granularity=TENSORWISE, axis=1, powerOfTwoScales=false]",
                s.withDelayedScaling(null).toString(), "current scaling prints as before");
    }
}
