package dev.float8j.runtime.debug;

import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * FP8 debugging configured by text, so it can be turned on without recompiling: from the system property
 * {@value #PROPERTY} (directives separated by ';') or a file named by {@value #FILE_PROPERTY} (one per line,
 * '#' starts a comment). Three directives, each followed by key=value options:
 *
 * <pre>
 * stats module=blocks.*.mlp.* gemm=output,grad_weight operand=input steps=100-200 every=10 file=fp8-stats.csv
 * dump  module=head operand=weight steps=50 dir=fp8-dumps
 * off   module=blocks.1.* gemm=grad_input
 * </pre>
 *
 * module (a glob, default '*'), gemm and operand (comma lists, default all) and steps ("N", "A-B" or "A-";
 * default all) and every (default 1) select what stats and dump observe; stats writes to file (CSV if it
 * ends in .csv, else JSON lines) and prints its table to stderr when the program exits; dump writes .npy files
 * to dir. off runs the selected gemm (or all three) of matching modules in high precision. The whole text is
 * checked before anything is applied.
 */
public final class DebugConfig {
    /** The system property holding a debug configuration inline. */
    public static final String PROPERTY = "float8j.debug";
    /** The system property naming a file that holds a debug configuration. */
    public static final String FILE_PROPERTY = "float8j.debug.file";

    private DebugConfig() {
    }

    /** A parsed directive. */
    private record Directive(String verb, Map<String, String> options, int line) {
        String get(String key, String fallback) {
            return options.getOrDefault(key, fallback);
        }
    }

    /** Applies the configuration from the system properties, if either is set; returns the observers it installed. */
    public static List<QuantizationObserver> applySystemProperties() {
        List<QuantizationObserver> installed = new ArrayList<>();
        String file = System.getProperty(FILE_PROPERTY);
        if (file != null && !file.isBlank()) {
            try {
                installed.addAll(apply(Files.readString(Path.of(file)), "-D" + FILE_PROPERTY + "=" + file));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the FP8 debug configuration " + file, e);
            }
        }
        String text = System.getProperty(PROPERTY);
        if (text != null && !text.isBlank()) {
            installed.addAll(apply(text.replace(';', '\n'), "-D" + PROPERTY));
        }
        return installed;
    }

    /** Parses the whole text, then installs its observers (added to any present) and switches. */
    public static List<QuantizationObserver> apply(String text, String source) {
        List<Directive> directives = parse(text, source);
        List<QuantizationObserver> observers = new ArrayList<>();
        List<Runnable> switches = new ArrayList<>();
        for (Directive d : directives) {
            Selection selection = selection(d, source);
            switch (d.verb()) {
                case "stats" -> observers.add(statistics(d, selection, source));
                case "dump" -> observers.add(dump(d, selection));
                case "off" -> {
                    Set<Gemm> gemms = selection.gemms();
                    boolean all = gemms.size() == Gemm.values().length;
                    if (all) {
                        switches.add(() -> Float8Debug.switchOff(selection.moduleGlob(), null));
                    } else {
                        for (Gemm g : gemms) {
                            switches.add(() -> Float8Debug.switchOff(selection.moduleGlob(), g));
                        }
                    }
                }
                default -> throw new IllegalStateException(d.verb());
            }
        }
        switches.forEach(Runnable::run);
        for (QuantizationObserver o : observers) {
            Float8Debug.addObserver(o);
        }
        return observers;
    }

    private static List<Directive> parse(String text, String source) {
        List<Directive> out = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] words = line.split("\\s+");
            String verb = words[0].toLowerCase(Locale.ROOT);
            if (!List.of("stats", "dump", "off").contains(verb)) {
                throw error(source, i + 1, "unknown directive '" + words[0] + "'; use stats, dump or off");
            }
            Map<String, String> options = new LinkedHashMap<>();
            for (int w = 1; w < words.length; w++) {
                int eq = words[w].indexOf('=');
                if (eq <= 0 || eq == words[w].length() - 1) {
                    throw error(source, i + 1, "'" + words[w] + "' is not key=value");
                }
                String key = words[w].substring(0, eq).toLowerCase(Locale.ROOT);
                Set<String> allowed = switch (verb) {
                    case "stats" -> Set.of("module", "gemm", "operand", "steps", "every", "file");
                    case "dump" -> Set.of("module", "gemm", "operand", "steps", "every", "dir");
                    default -> Set.of("module", "gemm");
                };
                if (!allowed.contains(key)) {
                    throw error(source, i + 1, verb + " takes no option '" + key + "'; it takes " + allowed);
                }
                options.put(key, words[w].substring(eq + 1));
            }
            Directive d = new Directive(verb, options, i + 1);
            selection(d, source);
            if (verb.equals("dump") && !options.containsKey("dir")) {
                throw error(source, i + 1, "dump needs dir=DIRECTORY");
            }
            out.add(d);
        }
        return out;
    }

    private static Selection selection(Directive d, String source) {
        try {
            Set<Gemm> gemms = enums(Gemm.class, d.get("gemm", "all"));
            Set<Operand> operands = enums(Operand.class, d.get("operand", "all"));
            long first = 0;
            long last = Long.MAX_VALUE;
            String steps = d.get("steps", "");
            if (!steps.isEmpty()) {
                int dash = steps.indexOf('-');
                if (dash < 0) {
                    first = last = Long.parseLong(steps);
                } else {
                    first = Long.parseLong(steps.substring(0, dash));
                    last = dash == steps.length() - 1 ? Long.MAX_VALUE : Long.parseLong(steps.substring(dash + 1));
                }
            }
            long every = Long.parseLong(d.get("every", "1"));
            return new Selection(d.get("module", "*"), gemms, operands, first, last, every);
        } catch (IllegalArgumentException e) {
            throw error(source, d.line(), e.getMessage());
        }
    }

    private static <E extends Enum<E>> Set<E> enums(Class<E> type, String list) {
        if (list.equalsIgnoreCase("all")) {
            return EnumSet.allOf(type);
        }
        EnumSet<E> out = EnumSet.noneOf(type);
        for (String item : list.split(",")) {
            try {
                out.add(Enum.valueOf(type, item.strip().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + item + "' is no " + type.getSimpleName().toLowerCase(Locale.ROOT)
                        + "; use " + EnumSet.allOf(type).toString().toLowerCase(Locale.ROOT) + " or all");
            }
        }
        return out;
    }

    private static QuantizationObserver statistics(Directive d, Selection selection, String source) {
        String file = d.get("file", null);
        try {
            StatisticsObserver stats = file == null ? new StatisticsObserver(selection)
                    : new StatisticsObserver(selection, Path.of(file));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                System.err.println("FP8 statistics (" + source + ", line " + d.line() + "), latest per site:");
                System.err.print(stats.table());
                try {
                    stats.close();
                } catch (IOException e) {
                    System.err.println("could not close " + file + ": " + e.getMessage());
                }
            }));
            return stats;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open FP8 statistics file " + file, e);
        }
    }

    private static QuantizationObserver dump(Directive d, Selection selection) {
        try {
            return new TensorDumpObserver(selection, Path.of(d.get("dir", null)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create FP8 dump directory " + d.get("dir", null), e);
        }
    }

    private static IllegalArgumentException error(String source, int line, String message) {
        return new IllegalArgumentException("FP8 debug configuration " + source + ", line " + line + ": " + message);
    }
}
