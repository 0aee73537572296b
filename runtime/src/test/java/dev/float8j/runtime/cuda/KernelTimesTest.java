package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Kernel times name each kernel and matmul queued while on, count its calls, and stop cleanly. Skips without a GPU. */
class KernelTimesTest {
    private CudaBackend cuda;

    @BeforeEach
    void needsGpu() {
        cuda = TestGpu.require();
    }

    @Test
    void namesAndCountsEachKernelAndMatmulQueuedWhileOn() {
        Tensor a = Tensor.of(new float[256 * 512], 256, 512).to(DType.BF16);
        Tensor b = Tensor.of(new float[128 * 512], 128, 512).to(DType.BF16);
        cuda.startKernelTimes();
        for (int i = 0; i < 3; i++) {
            cuda.matmul(a, 1, b, 1, DType.BF16);
        }
        KernelTimes times = cuda.stopKernelTimes();
        Map<String, KernelTimes.Entry> byName = times.entries().stream()
                .collect(Collectors.toMap(KernelTimes.Entry::kernel, e -> e));
        List<String> matmuls = byName.keySet().stream().filter(k -> k.startsWith("cublasLt bf16")).toList();
        assertEquals(1, matmuls.size(), "one matmul shape expected, got " + byName.keySet());
        KernelTimes.Entry matmul = byName.get(matmuls.get(0));
        assertEquals(3, matmul.calls());
        assertTrue(matmul.millis() > 0, "a matmul takes time: " + matmul);
        assertTrue(times.totalMillis() >= matmul.millis());

        // off again: nothing more is recorded, and a second stop is an error
        cuda.matmul(a, 1, b, 1, DType.BF16);
        assertEquals(3, times.entries().stream().filter(e -> e.kernel().equals(matmul.kernel())).findFirst()
                .orElseThrow().calls());
        assertThrows(IllegalStateException.class, cuda::stopKernelTimes);
    }

    @Test
    void theTimelineListsEveryLaunchInOrderMemsetsIncluded() {
        Tensor a = cuda.toDevice(Tensor.of(new float[256 * 512], 256, 512).to(DType.BF16));
        Tensor zeros = cuda.zeros(256, 256);
        cuda.startKernelTimes();
        cuda.zero(zeros);
        cuda.matmul(a, 1, a, 1, DType.BF16);
        String[] lines = cuda.stopKernelTimes().timelineCsv().split("\n");
        assertEquals("kernel,queued_ms,call_ms,start_ms,end_ms,gap_ms,lead_ms", lines[0]);
        assertEquals(3, lines.length, String.join("\n", lines));
        String[] memset = lines[1].split(",");
        String[] matmul = lines[2].split(",");
        assertEquals("memset", memset[0]);
        assertTrue(matmul[0].startsWith("cublasLt bf16"), matmul[0]);
        double memsetEnd = Double.parseDouble(memset[4]);
        double matmulStart = Double.parseDouble(matmul[3]);
        assertTrue(Double.parseDouble(memset[3]) <= memsetEnd && memsetEnd <= matmulStart
                && matmulStart < Double.parseDouble(matmul[4]), "one stream runs them one after the other: "
                + lines[1] + " / " + lines[2]);
    }
}
