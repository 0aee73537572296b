package dev.float8j.runtime.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HostAmaxHistoryTest {

    /** The reduction written out over a plain list of every amax recorded. */
    private static float expected(List<Float> all, DelayedScaling s) {
        if (s.reduction() == DelayedScaling.AmaxReduction.MOST_RECENT) {
            return all.get(all.size() - 1);
        }
        float max = 0;
        for (int i = Math.max(0, all.size() - s.historyLength()); i < all.size(); i++) {
            max = Math.max(max, all.get(i));
        }
        return max;
    }

    @Test
    void reducesTheLastAmaxesAsAScalarLoopDoes() {
        Random random = new Random(5);
        for (DelayedScaling s : List.of(DelayedScaling.maxOfLast(1), DelayedScaling.maxOfLast(4),
                DelayedScaling.maxOfLast(16), new DelayedScaling(3, DelayedScaling.AmaxReduction.MOST_RECENT))) {
            HostAmaxHistory history = new HostAmaxHistory(s);
            List<Float> all = new ArrayList<>();
            assertTrue(history.isEmpty());
            for (int i = 0; i < 50; i++) {
                // a spike now and then, which MAX must remember for exactly historyLength casts
                float amax = i % 7 == 0 ? 1000f * random.nextFloat() : random.nextFloat();
                history.record(amax);
                all.add(amax);
                assertEquals(expected(all, s), history.reducedAmax(), s + " after " + (i + 1));
            }
        }
    }

    @Test
    void theScaleIsFmaxOverTheReducedAmax() {
        HostAmaxHistory history = new HostAmaxHistory(DelayedScaling.maxOfLast(2));
        history.record(2f);
        history.record(0.5f);
        QuantSpec e4m3 = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1);
        assertEquals(448f / 2f, history.scale(e4m3));
        assertEquals(128f, history.scale(new QuantSpec(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1, true)));
        history.record(0.25f); // the 2 drops out
        assertEquals(448f / 0.5f, history.scale(e4m3));
    }

    @Test
    void refusesAnEmptyHistoryAndBadAmaxes() {
        HostAmaxHistory history = new HostAmaxHistory(DelayedScaling.maxOfLast(2));
        assertThrows(IllegalStateException.class, history::reducedAmax);
        assertThrows(IllegalArgumentException.class, () -> history.record(Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> history.record(-1f));
        assertTrue(history.isEmpty(), "a refused amax is not recorded");
    }

    @Test
    void commitRecordsThePendingAmaxOnceAndNothingElse() {
        HostAmaxHistory history = new HostAmaxHistory(DelayedScaling.maxOfLast(4));
        assertThrows(IllegalStateException.class, history::commit, "nothing pending yet");
        history.setPending(3f);
        assertTrue(history.isEmpty(), "a pending amax is not recorded before commit");
        history.setPending(2f);  // a failed call's amax is replaced by the next cast's
        history.commit();
        assertEquals(2f, history.reducedAmax());
        assertThrows(IllegalStateException.class, history::commit, "the pending amax was recorded once");
        assertThrows(IllegalArgumentException.class, () -> history.setPending(Float.POSITIVE_INFINITY));
        assertEquals(2f, history.reducedAmax());
    }
}
