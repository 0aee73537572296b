package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.dist.Fp8AllGather;
import dev.float8j.runtime.dist.ReduceOp;
import dev.float8j.runtime.dist.ShardLayout;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class NcclCommunicatorTest {

    @Test
    void aMissingLibraryIsAClearErrorNamingWhatWasTried() {
        String before = System.getProperty(Nccl.PROPERTY);
        System.setProperty(Nccl.PROPERTY, "/nonexistent/dir/libnccl.so.2");
        try {
            CudaUnavailableException e = assertThrows(CudaUnavailableException.class, NcclCommunicator::newUniqueId);
            assertTrue(e.getMessage().startsWith("cannot load NCCL; tried /nonexistent/dir/libnccl.so.2"), e.getMessage());
        } finally {
            if (before == null) {
                System.clearProperty(Nccl.PROPERTY);
            } else {
                System.setProperty(Nccl.PROPERTY, before);
            }
        }
    }

    @Test
    void withoutNcclOnTheMachineTheErrorNamesTheSonamesTried() {
        Assumptions.assumeTrue(System.getProperty(Nccl.PROPERTY) == null, "skipped: " + Nccl.PROPERTY + " is set");
        CudaUnavailableException e;
        try {
            NcclCommunicator.newUniqueId();
            Assumptions.abort("skipped: NCCL loads on this machine");
            return;
        } catch (CudaUnavailableException thrown) {
            e = thrown;
        }
        assertTrue(e.getMessage().contains("libnccl.so.2") && e.getMessage().contains("-D" + Nccl.PROPERTY),
                e.getMessage());
    }

    @Test
    void nvlinkMulticastMustStayOff() {
        assertDoesNotThrow(() -> Nccl.requireNvlsOff(null));
        assertDoesNotThrow(() -> Nccl.requireNvlsOff("0"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Nccl.requireNvlsOff("1"));
        assertTrue(e.getMessage().contains("NCCL_NVLS_ENABLE=0"), e.getMessage());
    }

    /** A group of one on a GPU with NCCL: each collective gives back its operand (reduce-scatter and all-gather of 1). */
    @Test
    void aGroupOfOneOnTheGpuReturnsItsOperands() {
        CudaBackend cuda = TestGpu.require();
        byte[] id;
        try {
            id = NcclCommunicator.newUniqueId();
        } catch (CudaUnavailableException e) {
            Assumptions.abort("skipped: no NCCL here: " + e.getMessage());
            return;
        }
        float[] values = {1.5f, -2f, 3.25f, 0f, 7f, -0.5f};
        try (NcclCommunicator c = NcclCommunicator.create(cuda, id, 0, 1)) {
            Tensor x = cuda.toDevice(Tensor.of(values.clone(), 2, 3));
            assertArrayEquals(values, cuda.toHost(c.allGather(x)).data());
            assertArrayEquals(values, cuda.toHost(c.allReduce(x, ReduceOp.SUM)).data());
            assertArrayEquals(values, cuda.toHost(c.allReduce(x, ReduceOp.MAX)).data());
            assertArrayEquals(values, cuda.toHost(c.reduceScatter(x, ReduceOp.MEAN)).data());
            assertArrayEquals(values, cuda.toHost(c.broadcast(x, 0)).data());
            c.barrier();
        }
    }

    /**
     * A group of one on a GPU: the device FP8 all-gather of every recipe along K gives the codes and scales of the
     * backend quantizing the whole weight (300 x 136: a partial row tile and 128-column block; blockwise pads the one
     * shard to 384 rows, which the gather cuts off).
     */
    @Test
    void aGroupOfOneGathersDeviceFp8ShardsAsTheWholeWeightsQuantization() {
        CudaBackend cuda = TestGpu.require();
        byte[] id;
        try {
            id = NcclCommunicator.newUniqueId();
        } catch (CudaUnavailableException e) {
            Assumptions.abort("skipped: no NCCL here: " + e.getMessage());
            return;
        }
        int rows = 300;
        int cols = 136;
        float[] values = new float[rows * cols];
        java.util.Random random = new java.util.Random(17);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextGaussian() * Math.exp(random.nextGaussian()));
        }
        Tensor full = Tensor.of(values, rows, cols);
        try (NcclCommunicator c = NcclCommunicator.create(cuda, id, 0, 1)) {
            for (ScalingGranularity g : ScalingGranularity.values()) {
                QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, g, 1);
                ShardLayout layout = ShardLayout.of(rows, cols, 1, Fp8AllGather.rowAlignment(spec));
                Tensor shard = cuda.toDevice(layout.shardOf(full, 0));
                Float8Tensor gathered = cuda.toHost(Fp8AllGather.gather(c, cuda, shard, spec, layout));
                Float8Tensor expected = new ReferenceBackend().quantize(full, spec);
                assertArrayEquals(expected.codes(), gathered.codes(), g + " codes");
                assertArrayEquals(expected.scalesForBackend(), gathered.scalesForBackend(), g + " scales");
            }
        }
    }
}
