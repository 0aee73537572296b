package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import org.junit.jupiter.api.Test;

/** Runs everywhere: a missing library gives a message that lists what was tried. */
class NativeLibraryTest {

    @Test
    void missingLibraryListsEveryCandidate() {
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> NativeLibrary.open("a test library", "float8j.test.nolibrary", "libfloat8j-missing.so.13",
                        "libfloat8j-missing.so.12"));
        assertTrue(e.getMessage().contains("libfloat8j-missing.so.13"), e.getMessage());
        assertTrue(e.getMessage().contains("libfloat8j-missing.so.12"), e.getMessage());
        assertTrue(e.getMessage().contains("-Dfloat8j.test.nolibrary"), e.getMessage());
    }

    @Test
    void overrideIsTheOnlyCandidate() {
        System.setProperty("float8j.test.override", "/nonexistent/libcuda-override.so");
        try {
            CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                    () -> NativeLibrary.open("a test library", "float8j.test.override", "libc.so.6"));
            assertTrue(e.getMessage().contains("/nonexistent/libcuda-override.so"), e.getMessage());
        } finally {
            System.clearProperty("float8j.test.override");
        }
    }

    @Test
    void autoSelectionAlwaysGivesABackend() {
        Backend backend = Backends.auto();
        String[] whyNot = new String[1];
        boolean gpu = CudaBackend.availableOrNull(whyNot) != null;
        assertTrue(gpu == backend.name().startsWith("cuda"), backend.name() + " (CUDA: " + whyNot[0] + ")");
    }
}
