package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The cuBLASLt workspace size that -Dfloat8j.cuda.cublasLtWorkspace names; needs no GPU. */
class CublasLtWorkspaceTest {
    @Test
    void unsetMeans32MiB() {
        assertEquals(32L << 20, CublasLt.workspaceBytes(null));
    }

    @Test
    void takesBytes() {
        assertEquals(1L << 20, CublasLt.workspaceBytes("1048576"));
        assertEquals(256, CublasLt.workspaceBytes(" 256 "));
    }

    @Test
    void refusesWhatIsNotAPositiveMultipleOf256() {
        for (String bad : new String[] {"0", "-256", "1000", "1MiB", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CublasLt.workspaceBytes(bad), bad);
            assertTrue(e.getMessage().contains("float8j.cuda.cublasLtWorkspace"), e.getMessage());
        }
    }
}
