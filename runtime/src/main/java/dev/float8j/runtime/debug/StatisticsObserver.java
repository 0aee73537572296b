package dev.float8j.runtime.debug;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The statistics logger: for each selected quantization it measures {@link QuantizationStats}, keeps the
 * latest per site for a console table, and appends one line to a CSV file (name ending in .csv) or a
 * JSON-lines file (any other name), if one is given.
 */
public final class StatisticsObserver implements QuantizationObserver, Closeable {

    /** One measured quantization. */
    public record Entry(Site site, long step, String format, String granularity, QuantizationStats stats) {
    }

    private static final String CSV_HEADER = "step,module,gemm,operand,format,granularity,elements,amax,min_scale,max_scale,"
            + "underflow_share,saturation_share,sqnr_db,relative_mse";

    private final Selection selection;
    private final BufferedWriter out;
    private final boolean csv;
    private final Map<Site, Entry> latest = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();

    /** Keeps entries in memory only. */
    public StatisticsObserver(Selection selection) {
        this.selection = selection;
        this.out = null;
        this.csv = false;
    }

    /** Also writes every entry to file (CSV if its name ends in .csv, else JSON lines), replacing it. */
    public StatisticsObserver(Selection selection, Path file) throws IOException {
        this.selection = selection;
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        this.out = Files.newBufferedWriter(file);
        this.csv = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".csv");
        if (csv) {
            out.write(CSV_HEADER);
            out.newLine();
            out.flush();
        }
    }

    @Override
    public boolean wants(Site site, long step) {
        return selection.matches(site, step);
    }

    @Override
    public synchronized void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend) {
        Entry e = new Entry(site, step, quantized.format().name(), quantized.granularity().name(),
                QuantizationStats.of(highPrecision, quantized, backend));
        entries.add(e);
        latest.put(site, e);
        if (out != null) {
            try {
                out.write(csv ? csvLine(e) : jsonLine(e));
                out.newLine();
                out.flush();
            } catch (IOException ex) {
                throw new UncheckedIOException("cannot write FP8 statistics", ex);
            }
        }
    }

    /** Every entry so far, in order. */
    public synchronized List<Entry> entries() {
        return List.copyOf(entries);
    }

    /** The latest entry of each site, in the order sites were first seen. */
    public synchronized List<Entry> latest() {
        return List.copyOf(latest.values());
    }

    /** The latest entry of each site as an aligned text table, for the console or a report. */
    public synchronized String table() {
        StringBuilder sb = new StringBuilder();
        String fmt = "%-28s %-11s %-11s %-6s %5s %10s %10s %10s %9s %9s %8s%n";
        sb.append(String.format(Locale.ROOT, fmt, "module", "gemm", "operand", "format", "step", "amax", "scale min",
                "scale max", "underflow", "saturated", "SQNR dB"));
        for (Entry e : latest.values()) {
            QuantizationStats s = e.stats();
            sb.append(String.format(Locale.ROOT, fmt, e.site().module(), lower(e.site().gemm()), lower(e.site().operand()),
                    e.format(), e.step(), sci(s.amax()), sci(s.minScale()), sci(s.maxScale()), percent(s.underflowShare()),
                    percent(s.saturationShare()), String.format(Locale.ROOT, "%.1f", s.sqnrDb())));
        }
        return sb.toString();
    }

    /** The latest entry of each site as CSV lines, with the header. */
    public synchronized String latestCsv() {
        StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
        for (Entry e : latest.values()) {
            sb.append(csvLine(e)).append('\n');
        }
        return sb.toString();
    }

    private static String csvLine(Entry e) {
        QuantizationStats s = e.stats();
        return String.format(Locale.ROOT, "%d,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,%s", e.step(), e.site().module(),
                lower(e.site().gemm()), lower(e.site().operand()), e.format(), e.granularity(), s.elements(), s.amax(),
                s.minScale(), s.maxScale(), s.underflowShare(), s.saturationShare(), s.sqnrDb(), s.relativeMse());
    }

    private static String jsonLine(Entry e) {
        QuantizationStats s = e.stats();
        return String.format(Locale.ROOT, "{\"step\":%d,\"module\":\"%s\",\"gemm\":\"%s\",\"operand\":\"%s\",\"format\":\"%s\","
                + "\"granularity\":\"%s\",\"elements\":%d,\"amax\":%s,\"min_scale\":%s,\"max_scale\":%s,"
                + "\"underflow_share\":%s,\"saturation_share\":%s,\"sqnr_db\":%s,\"relative_mse\":%s}", e.step(),
                jsonEscape(e.site().module()), lower(e.site().gemm()), lower(e.site().operand()), e.format(), e.granularity(),
                s.elements(), json(s.amax()), json(s.minScale()), json(s.maxScale()), json(s.underflowShare()),
                json(s.saturationShare()), json(s.sqnrDb()), json(s.relativeMse()));
    }

    /** JSON has no Infinity: an exact quantization's SQNR is written as null. */
    private static String json(double v) {
        return Double.isFinite(v) ? Double.toString(v) : "null";
    }

    private static String jsonEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    private static String sci(float v) {
        return String.format(Locale.ROOT, "%.3e", v);
    }

    private static String percent(double share) {
        return String.format(Locale.ROOT, "%.3f%%", 100 * share);
    }

    @Override
    public synchronized void close() throws IOException {
        if (out != null) {
            out.close();
        }
    }
}
