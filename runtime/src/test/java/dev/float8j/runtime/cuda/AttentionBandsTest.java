package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** -Dfloat8j.cuda.attentionBands=F,B as CudaAttention reads it (no GPU needed). */
class AttentionBandsTest {
    @Test
    void twoPositiveNumbersAreTheForwardAndBackwardBands() {
        assertArrayEquals(new int[] {8, 4}, CudaAttention.bands("8,4"));
        assertArrayEquals(new int[] {1, 32}, CudaAttention.bands(" 1 , 32 "));
    }

    @ParameterizedTest
    @ValueSource(strings = {"8", "8,4,2", "0,4", "8,-1", "a,4", "", "8,"})
    void anythingElseIsAnErrorNamingTheProperty(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaAttention.bands(text));
        assertTrue(e.getMessage().contains("float8j.cuda.attentionBands") && e.getMessage().contains("'" + text + "'"),
                e.getMessage());
    }
}
