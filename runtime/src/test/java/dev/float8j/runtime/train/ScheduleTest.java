package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ScheduleTest {

    @Test
    void constantIsTheSameAtEveryStep() {
        Schedule s = Schedule.constant(3e-4);
        assertEquals(3e-4, s.rate(0));
        assertEquals(3e-4, s.rate(1_000_000));
    }

    @Test
    void stepDecayMultipliesByTheFactorEveryNSteps() {
        Schedule s = Schedule.stepDecay(0.1, 0.5, 10);
        assertEquals(0.1, s.rate(0));
        assertEquals(0.1, s.rate(9));
        assertEquals(0.05, s.rate(10));
        assertEquals(0.025, s.rate(25));
    }

    @Test
    void warmupCosineIsTheExistingSchedule() {
        Schedule s = Schedule.warmupCosine(1.0, 0.1, 10, 110);
        assertEquals(0.1, s.rate(0), 1e-12);     // warmup: (0 + 1) / 10 of the peak
        assertEquals(1.0, s.rate(10), 1e-12);    // end of warmup: the peak
        assertEquals(0.55, s.rate(60), 1e-12);   // half way down: (peak + min) / 2
        assertEquals(0.1, s.rate(200), 1e-12);
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Schedule.constant(0));
        assertThrows(IllegalArgumentException.class, () -> Schedule.stepDecay(0.1, 1.5, 10));
        assertThrows(IllegalArgumentException.class, () -> Schedule.stepDecay(0.1, 0.5, 0));
    }
}
