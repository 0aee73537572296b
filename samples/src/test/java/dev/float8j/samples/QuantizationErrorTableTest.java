package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The error table on a small tensor: the printout is complete and its figures have the expected size. */
class QuantizationErrorTableTest {
    private final ReferenceBackend backend = new ReferenceBackend();

    @Test
    void printsEveryGranularity() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        QuantizationErrorTable.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), backend, 256, 1);
        String table = bytes.toString(StandardCharsets.UTF_8);
        for (QuantizationErrorTable.Variant v : QuantizationErrorTable.VARIANTS) {
            assertTrue(table.contains(v.label()), v.label());
        }
        assertTrue(!table.contains("NaN") && !table.contains("Infinity"), table);
    }

    @Test
    void sqnrFollowsTheMantissaWidthOnGaussianData() {
        QuantizationErrorTable.Dataset gaussian = QuantizationErrorTable.datasets(256, 1).get(0);
        for (ScalingGranularity g : ScalingGranularity.values()) {
            // about 6 dB per mantissa bit: 3 bits for E4M3FN, 2 for E5M2
            double e4m3 = QuantizationErrorTable.sqnr(backend, gaussian, QuantSpec.of(Fp8Format.E4M3FN, g, 1)).all();
            double e5m2 = QuantizationErrorTable.sqnr(backend, gaussian, QuantSpec.of(Fp8Format.E5M2, g, 1)).all();
            assertTrue(e4m3 > 29 && e4m3 < 34, g + " E4M3FN " + e4m3);
            assertTrue(e5m2 > 23 && e5m2 < 28, g + " E5M2 " + e5m2);
            assertTrue(Math.abs(e4m3 - e5m2 - 6) < 1, g + " one mantissa bit apart");
        }
    }

    @Test
    void perRowScalesProtectOrdinaryRowsFromHugeOutlierRows() {
        float[] gaussian = QuantizationErrorTable.datasets(256, 1).get(0).tensor().data();
        QuantizationErrorTable.Dataset huge = QuantizationErrorTable.outlierRows(gaussian, 256, 1e5f);
        double tensorwise = QuantizationErrorTable.sqnr(backend, huge,
                QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1)).ordinary();
        double rowwise = QuantizationErrorTable.sqnr(backend, huge,
                QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.ROWWISE, 1)).ordinary();
        assertTrue(rowwise > 29 && tensorwise < rowwise - 10, "rowwise " + rowwise + " vs tensorwise " + tensorwise);
    }
}
