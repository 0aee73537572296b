package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Small uploads are queued on the compute stream through pinned buffers (HostStaging): with a long matmul still
 * running ahead of them, more uploads than the pool holds, each into memory freed while a kernel reading it was still
 * queued, all arrive whole and in order. Skips without a GPU.
 */
class StagedUploadTest {

    @Test
    void uploadsQueuedBehindRunningWorkArriveWholeAndInOrder() {
        CudaBackend cuda = TestGpu.require();
        Tensor a = cuda.toDevice(Tensor.of(new float[2048 * 2048], 2048, 2048).to(DType.BF16));
        Tensor busy = cuda.matmul(a, 1, a, 1, DType.BF16);  // keeps the GPU busy while the uploads queue up
        List<float[]> sent = new ArrayList<>();
        List<Tensor> doubled = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            float[] values = new float[1000];
            for (int j = 0; j < values.length; j++) {
                values[j] = i * 10000 + j;
            }
            sent.add(values);
            Tensor x = cuda.toDevice(Tensor.of(values, 1, values.length));
            doubled.add(cuda.ops().add(x, x));
            // the next upload may take this memory while the add reading it is still queued: its copy comes after
            cuda.release(x);
        }
        cuda.release(busy);
        for (int i = 0; i < 20; i++) {
            float[] expected = sent.get(i).clone();
            for (int j = 0; j < expected.length; j++) {
                expected[j] *= 2;
            }
            assertArrayEquals(expected, cuda.toHost(doubled.get(i)).data(), "upload " + i);
        }
    }
}
