package dev.float8j.runtime.debug;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.nn.Quantize;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ObserversTest {
    @TempDir
    Path dir;

    private final ReferenceBackend backend = new ReferenceBackend();

    @AfterEach
    void reset() {
        Float8Debug.observe(null);
        Float8Debug.setStep(0);
    }

    @Test
    void statisticsCountUnderflowSaturationAndError() {
        // Tensorwise E4M3 with amax 448 gives scale 1: 1e-4 underflows to 0 (below 2^-10), 448 is exact.
        float[] x = {448f, 1e-4f, 0f, 1f, -3.3f, 100f};
        Tensor hp = Tensor.of(x, 2, 3);
        Float8Tensor q = backend.quantize(hp, QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1));
        QuantizationStats s = QuantizationStats.of(hp, q, backend);
        assertEquals(448f, s.amax());
        assertEquals(1f, s.minScale());
        assertEquals(1f, s.maxScale());
        assertEquals(1.0 / 6, s.underflowShare(), 1e-12);
        assertEquals(0.0, s.saturationShare());
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < x.length; i++) {
            float d = Fp8Format.E4M3FN.decode(Fp8Format.E4M3FN.encodeSaturating(x[i]));
            signal += (double) x[i] * x[i];
            noise += (double) (x[i] - d) * (x[i] - d);
        }
        assertEquals(10 * Math.log10(signal / noise), s.sqnrDb(), 1e-9);
        assertEquals(noise / signal, s.relativeMse(), 1e-15);

        // with scale 5, 448 and 100 scale past 464 (the midpoint of 448 and the next E4M3 step, 480) and are clipped;
        // with scale 1.03, 448 becomes 461.4, which rounds to 448 anyway: not saturated
        Float8Tensor scaled = new Float8Tensor(q.codes(), new float[] {5f}, q.spec(), q.originalDType(), 2, 3);
        assertEquals(2.0 / 6, QuantizationStats.of(hp, scaled, backend).saturationShare(), 1e-12);
        Float8Tensor barely = new Float8Tensor(q.codes(), new float[] {1.03f}, q.spec(), q.originalDType(), 2, 3);
        assertEquals(0.0, QuantizationStats.of(hp, barely, backend).saturationShare());
    }

    @Test
    void quantizationsReachTheObserverTaggedWithSiteAndStep() {
        StatisticsObserver stats = new StatisticsObserver(Selection.all().modules("blocks.*").operands(Operand.WEIGHT));
        Float8Debug.observe(stats);
        Float8Debug.setStep(42);
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1);
        Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
        Quantize.quantize(backend, x, spec, new Site("blocks.0.up", Gemm.OUTPUT, Operand.WEIGHT));
        Quantize.quantize(backend, x, spec, new Site("blocks.0.up", Gemm.OUTPUT, Operand.INPUT));
        Quantize.quantize(backend, x, spec, new Site("head", Gemm.OUTPUT, Operand.WEIGHT));
        Quantize.quantizeBothAxes(backend, x, spec, new Site("blocks.1.down", Gemm.OUTPUT, Operand.WEIGHT), spec.withAxis(0),
                new Site("blocks.1.down", Gemm.GRAD_INPUT, Operand.WEIGHT));
        assertEquals(3, stats.entries().size());
        assertEquals(new Site("blocks.0.up", Gemm.OUTPUT, Operand.WEIGHT), stats.entries().get(0).site());
        assertEquals(new Site("blocks.1.down", Gemm.GRAD_INPUT, Operand.WEIGHT), stats.entries().get(2).site());
        assertTrue(stats.entries().stream().allMatch(e -> e.step() == 42));
        String table = stats.table();
        assertTrue(table.contains("blocks.1.down") && table.contains("grad_input") && table.contains("weight"), table);
    }

    @Test
    void dumpsParseAsNpy() throws Exception {
        TensorDumpObserver dump = new TensorDumpObserver(Selection.all(), dir);
        Float8Debug.observe(dump);
        Float8Debug.setStep(3);
        float[] values = {0.5f, -1.25f, 3f, 7f, -0.125f, 2f};
        Float8Tensor q = Quantize.quantize(backend, Tensor.of(values, 3, 2),
                QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1), new Site("proj", Gemm.OUTPUT, Operand.INPUT));
        assertEquals(4, dump.written().size());

        Npy parsed = Npy.read(dir.resolve("step000003_proj_output_input_hp.npy"));
        assertEquals("<f4", parsed.descr);
        assertArrayEquals(new int[] {3, 2}, parsed.shape);
        ByteBuffer data = ByteBuffer.wrap(parsed.data).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            assertEquals(v, data.getFloat());
        }
        Npy codes = Npy.read(dir.resolve("step000003_proj_output_input_codes.npy"));
        assertEquals("|u1", codes.descr);
        assertArrayEquals(q.codes(), codes.data);
        Npy scales = Npy.read(dir.resolve("step000003_proj_output_input_scales.npy"));
        assertArrayEquals(new int[] {3, 1}, scales.shape);
        assertEquals(q.scales()[2], ByteBuffer.wrap(scales.data).order(ByteOrder.LITTLE_ENDIAN).getFloat(8));
    }

    /** A reader written from the format's description, independent of the writer. */
    private static final class Npy {
        String descr;
        int[] shape;
        byte[] data;

        static Npy read(Path file) throws Exception {
            byte[] all = Files.readAllBytes(file);
            assertArrayEquals(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}, Arrays.copyOf(all, 8));
            int headerLength = (all[8] & 0xFF) | (all[9] & 0xFF) << 8;
            assertEquals(0, (10 + headerLength) % 64, "data must start 64-byte aligned");
            String header = new String(all, 10, headerLength, StandardCharsets.US_ASCII);
            assertTrue(header.endsWith("\n"), header);
            assertTrue(header.contains("'fortran_order': False"), header);
            Npy n = new Npy();
            n.descr = header.replaceAll("(?s).*'descr': '([^']*)'.*", "$1");
            String dims = header.replaceAll("(?s).*'shape': \\(([^)]*)\\).*", "$1");
            n.shape = Arrays.stream(dims.split(",")).map(String::strip).filter(d -> !d.isEmpty()).mapToInt(Integer::parseInt)
                    .toArray();
            n.data = Arrays.copyOfRange(all, 10 + headerLength, all.length);
            int elementSize = n.descr.endsWith("4") ? 4 : 1;
            assertEquals(Arrays.stream(n.shape).reduce(1, (a, b) -> a * b) * elementSize, n.data.length);
            return n;
        }
    }
}
