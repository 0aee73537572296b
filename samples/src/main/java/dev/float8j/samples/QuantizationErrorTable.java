package dev.float8j.samples;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Measures how much FP8 quantization loses at every granularity: the signal-to-quantization-noise ratio
 * (SQNR, dB) of quantize-then-dequantize on a Gaussian tensor and on tensors whose few outlier rows or
 * columns are 1000x larger, for E4M3FN and E5M2, with exact and power-of-two scales.
 *
 * <p>On outlier data the SQNR of all elements is dominated by the outliers' own energy, so the table also
 * gives the SQNR of the ordinary elements alone: that is where a coarse scale does its damage.
 *
 * <p>Usage: {@code QuantizationErrorTable [size] [seed]} (default 1024 and 2026).
 */
public final class QuantizationErrorTable {
    static final int DEFAULT_SIZE = 1024;
    static final long DEFAULT_SEED = 2026;
    static final int OUTLIERS = 4;
    static final float OUTLIER_FACTOR = 1000f;
    /** Outlier factors of the second table, which shows where coarse scales start to hurt the ordinary elements. */
    static final float[] FACTOR_SWEEP = {1e1f, 1e2f, 1e3f, 1e4f, 1e5f};

    /** A granularity and the axis its scales run along; axis 1 is along the columns (K for x [M,K]). */
    record Variant(String label, ScalingGranularity granularity, int axis) {
    }

    static final List<Variant> VARIANTS = List.of(
            new Variant("tensorwise", ScalingGranularity.TENSORWISE, 1),
            new Variant("rowwise along 1 (scale per row)", ScalingGranularity.ROWWISE, 1),
            new Variant("rowwise along 0 (scale per column)", ScalingGranularity.ROWWISE, 0),
            new Variant("1x128 tiles along 1", ScalingGranularity.TILE_1X128, 1),
            new Variant("1x128 tiles along 0 (128x1)", ScalingGranularity.TILE_1X128, 0),
            new Variant("128x128 blocks", ScalingGranularity.BLOCK_128X128, 1),
            new Variant("MX 1x32 along 1", ScalingGranularity.MX_1X32, 1),
            new Variant("MX 1x32 along 0 (32x1)", ScalingGranularity.MX_1X32, 0));

    /** A test tensor and which of its elements are ordinary (not outliers). */
    record Dataset(String label, Tensor tensor, boolean[] ordinary) {
    }

    /** SQNR of all elements and of the ordinary ones, in dB. */
    record Sqnr(double all, double ordinary) {
    }

    private QuantizationErrorTable() {
    }

    public static void main(String[] args) {
        int size = args.length > 0 ? Integer.parseInt(args[0]) : DEFAULT_SIZE;
        long seed = args.length > 1 ? Long.parseLong(args[1]) : DEFAULT_SEED;
        print(System.out, new ReferenceBackend(), size, seed);
    }

    static void print(PrintStream out, Backend backend, int size, long seed) {
        List<Dataset> datasets = datasets(size, seed);
        out.printf(Locale.ROOT, "FP8 quantization error: SQNR in dB (higher is better), %dx%d float32, seed %d, %s backend%n",
                size, size, seed, backend.name());
        out.printf(Locale.ROOT, "gaussian: N(0,1); outlier rows/cols: the same with %d rows/columns x%.0f;"
                + " 'ordinary' = SQNR of the other elements only%n", OUTLIERS, OUTLIER_FACTOR);
        for (Fp8Format format : Fp8Format.values()) {
            for (boolean pow2 : new boolean[] {false, true}) {
                out.println();
                out.printf(Locale.ROOT, "%s, %s%n", format, pow2 ? "power-of-two scales" : "fp32 scales (MX: power of two always)");
                out.printf(Locale.ROOT, "%-36s %8s | %-20s | %-20s%n", "granularity", "gaussian", "  outlier rows", "  outlier cols");
                out.printf(Locale.ROOT, "%-36s %8s | %9s %10s | %9s %10s%n", "", "", "all", "ordinary", "all", "ordinary");
                for (Variant v : VARIANTS) {
                    QuantSpec spec = new QuantSpec(format, v.granularity(), v.axis(), pow2);
                    Sqnr gaussian = sqnr(backend, datasets.get(0), spec);
                    Sqnr rows = sqnr(backend, datasets.get(1), spec);
                    Sqnr cols = sqnr(backend, datasets.get(2), spec);
                    out.printf(Locale.ROOT, "%-36s %8.2f | %9.2f %10.2f | %9.2f %10.2f%n", v.label(), gaussian.all(),
                            rows.all(), rows.ordinary(), cols.all(), cols.ordinary());
                }
            }
        }
        out.println();
        out.printf(Locale.ROOT, "SQNR of the ordinary elements (dB) as the %d outlier rows grow, fp32 scales%n", OUTLIERS);
        float[] gaussian = gaussian(size * size, seed);
        List<Dataset> sweep = new ArrayList<>();
        for (float factor : FACTOR_SWEEP) {
            sweep.add(outlierRows(gaussian, size, factor));
        }
        for (Fp8Format format : Fp8Format.values()) {
            out.printf(Locale.ROOT, "%-36s", format + ", outliers x");
            for (float factor : FACTOR_SWEEP) {
                out.printf(Locale.ROOT, " %8.0e", factor);
            }
            out.println();
            for (Variant v : VARIANTS) {
                out.printf(Locale.ROOT, "%-36s", v.label());
                for (Dataset d : sweep) {
                    out.printf(Locale.ROOT, " %8.2f", sqnr(backend, d, QuantSpec.of(format, v.granularity(), v.axis())).ordinary());
                }
                out.println();
            }
        }
    }

    static List<Dataset> datasets(int size, long seed) {
        float[] gaussian = gaussian(size * size, seed);
        List<Dataset> datasets = new ArrayList<>();
        boolean[] everything = new boolean[size * size];
        Arrays.fill(everything, true);
        datasets.add(new Dataset("gaussian", Tensor.of(gaussian, size, size), everything));

        datasets.add(outlierRows(gaussian, size, OUTLIER_FACTOR));

        int[] outliers = outlierIndices(size);
        float[] cols = gaussian.clone();
        boolean[] ordinaryCols = everything.clone();
        for (int c : outliers) {
            for (int r = 0; r < size; r++) {
                cols[r * size + c] *= OUTLIER_FACTOR;
                ordinaryCols[r * size + c] = false;
            }
        }
        datasets.add(new Dataset("outlier cols", Tensor.of(cols, size, size), ordinaryCols));
        return datasets;
    }

    /** The Gaussian values with a few rows multiplied by factor. */
    static Dataset outlierRows(float[] gaussian, int size, float factor) {
        float[] rows = gaussian.clone();
        boolean[] ordinary = new boolean[size * size];
        Arrays.fill(ordinary, true);
        for (int r : outlierIndices(size)) {
            for (int c = 0; c < size; c++) {
                rows[r * size + c] *= factor;
                ordinary[r * size + c] = false;
            }
        }
        return new Dataset("outlier rows", Tensor.of(rows, size, size), ordinary);
    }

    /** Spread over the tensor, so that with 128-wide blocks each outlier lands in a different block. */
    static int[] outlierIndices(int size) {
        int[] indices = new int[Math.min(OUTLIERS, size)];
        for (int i = 0; i < indices.length; i++) {
            indices[i] = (int) ((i + 0.5) * size / indices.length);
        }
        return indices;
    }

    static Sqnr sqnr(Backend backend, Dataset data, QuantSpec spec) {
        Tensor x = data.tensor();
        float[] original = x.data();
        float[] restored = backend.dequantize(backend.quantize(x, spec)).data();
        double signal = 0;
        double noise = 0;
        double ordinarySignal = 0;
        double ordinaryNoise = 0;
        for (int i = 0; i < original.length; i++) {
            double s = (double) original[i] * original[i];
            double e = (double) original[i] - restored[i];
            signal += s;
            noise += e * e;
            if (data.ordinary()[i]) {
                ordinarySignal += s;
                ordinaryNoise += e * e;
            }
        }
        return new Sqnr(decibels(signal, noise), decibels(ordinarySignal, ordinaryNoise));
    }

    private static double decibels(double signal, double noise) {
        return 10 * Math.log10(signal / noise);
    }

    private static float[] gaussian(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            double u1 = 1.0 - random.nextDouble();
            double u2 = random.nextDouble();
            out[i] = (float) (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return out;
    }
}
