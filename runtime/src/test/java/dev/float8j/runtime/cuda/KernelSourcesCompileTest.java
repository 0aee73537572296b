package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kernel file compiles with NVRTC exactly as the backend compiles it at run time (same header, same options),
 * for each GPU generation the backend accepts. NVRTC needs no GPU, so this runs wherever libnvrtc is found
 * ({@code -Dfloat8j.cuda.libnvrtc=/path/libnvrtc.so.13}, e.g. from the nvidia-cuda-nvrtc wheel) and skips, saying
 * so, elsewhere. nvcc accepts things NVRTC does not (host headers, offsetof), so a check with nvcc is not enough.
 */
class KernelSourcesCompileTest {
    /** The kernel files the backend loads; the test also checks that no .cu file beside them is left out. */
    static final List<String> FILES = List.of("attention.cu", "attention_sm90.cu", "cast.cu", "cross_entropy.cu",
            "elementwise.cu", "embedding.cu", "gather.cu", "gemm_sm90.cu", "optimizer.cu", "rmsnorm.cu", "rope.cu");
    private static Nvrtc nvrtc;
    private static String noNvrtc;

    @BeforeAll
    static void loadNvrtc() {
        try {
            nvrtc = new Nvrtc();
        } catch (CudaUnavailableException e) {
            noNvrtc = e.getMessage();
        }
    }

    static Stream<String> files() {
        return FILES.stream();
    }

    @ParameterizedTest
    @MethodSource("files")
    void compilesForAdaAndHopper(String file) {
        Assumptions.assumeTrue(nvrtc != null, () -> "skipped: no NVRTC here: " + noNvrtc);
        boolean hopperOnly = file.endsWith(KernelModule.HOPPER_SUFFIX);
        for (int computeCapability : hopperOnly ? new int[] {90} : new int[] {89, 90}) {
            byte[] cubin = KernelModule.compile(nvrtc, file, computeCapability);
            assertTrue(cubin.length > 0, file + " for sm_" + computeCapability + ": an empty cubin");
        }
    }

    /** Runs without NVRTC too: a file left out of the list would otherwise go unchecked where NVRTC is found. */
    @org.junit.jupiter.api.Test
    void everyKernelFileIsListed() throws IOException, URISyntaxException {
        URL folder = KernelModule.class.getResource("cast.cu");
        Assumptions.assumeTrue(folder != null && folder.getProtocol().equals("file"), "kernel files not in a folder");
        try (Stream<Path> files = Files.list(Path.of(folder.toURI()).getParent())) {
            List<String> found = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).sorted().toList();
            assertEquals(FILES, found);
        }
    }
}
