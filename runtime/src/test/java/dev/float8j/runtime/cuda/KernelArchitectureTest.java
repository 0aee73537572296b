package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Which NVRTC target each kernel file compiles for: its GPU's own, or sm_90a for the Hopper-only files. */
class KernelArchitectureTest {

    @Test
    void aKernelFileCompilesForTheGpuAtHand() {
        assertEquals("sm_89", KernelModule.architecture("attention.cu", 89));
        assertEquals("sm_90", KernelModule.architecture("attention.cu", 90));
    }

    @Test
    void aHopperFileCompilesForSm90aAndIsRefusedElsewhereByName() {
        assertEquals("sm_90a", KernelModule.architecture("attention_sm90.cu", 90));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelModule.architecture("attention_sm90.cu", 89));
        assertEquals("attention_sm90.cu runs on sm_90 (Hopper) only, not sm_89", e.getMessage());
    }
}
