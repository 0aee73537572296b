package dev.float8j.runtime.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parameter lists of a kernel file's {@code extern "C" __global__} functions, read from its source, so that every
 * launch is checked against the kernel it calls before cuLaunchKernel reads the arguments.
 *
 * <p>cuLaunchKernel copies each parameter's size from the pointer it is given, so an {@code int} passed where the
 * kernel declares {@code long} silently reads four bytes past it: the element count gets garbage high bits and the
 * kernel writes far outside its tensors. Here a mismatch is an exception naming the kernel and the parameter.
 *
 * <p>Java values map to C parameters as {@link KernelArgs} packs them: {@code Long} for pointers, {@code long} and
 * {@code long long}; {@code Integer} for {@code int}, {@code unsigned} and {@code u32}; {@code Float} for
 * {@code float}; a {@code MemorySegment} for a struct passed by value (its layout is checked at load, see
 * {@link KernelModule}). Kernels declared inside an instantiation macro ({@code cast_tiles_##NAME}) are one family,
 * looked up by their name's prefix.
 */
final class KernelSignatures {
    /** What a C parameter needs from the Java side. */
    enum Kind {
        POINTER(Long.class), LONG(Long.class), INT(Integer.class), FLOAT(Float.class), STRUCT(MemorySegment.class);

        final Class<?> javaType;

        Kind(Class<?> javaType) {
            this.javaType = javaType;
        }
    }

    /** One declared parameter: its C text (for messages) and kind. */
    record Parameter(String declaration, Kind kind) {
    }

    private static final Pattern KERNEL = Pattern.compile(
            "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s*)?([A-Za-z_][A-Za-z0-9_#]*)\\s*\\(");

    private final String file;
    private final Map<String, List<Parameter>> exact = new LinkedHashMap<>();
    private final Map<String, List<Parameter>> families = new LinkedHashMap<>();

    private KernelSignatures(String file) {
        this.file = file;
    }

    /** Every kernel declared in source (the text of file). */
    static KernelSignatures parse(String file, String source) {
        KernelSignatures signatures = new KernelSignatures(file);
        String text = source.replace("\\\n", " ");
        Matcher m = KERNEL.matcher(text);
        while (m.find()) {
            String name = m.group(1);
            int close = text.indexOf(')', m.end());
            List<Parameter> params = new ArrayList<>();
            String list = text.substring(m.end(), close).replaceAll("\\s+", " ").trim();
            if (!list.isEmpty() && !list.equals("void")) {
                for (String p : list.split(",")) {
                    params.add(parameter(p.trim()));
                }
            }
            int macro = name.indexOf("##");
            if (macro >= 0) {
                signatures.families.put(name.substring(0, macro), List.copyOf(params));
            } else {
                signatures.exact.put(name, List.copyOf(params));
            }
        }
        return signatures;
    }

    private static Parameter parameter(String declaration) {
        if (declaration.contains("*")) {
            return new Parameter(declaration, Kind.POINTER);
        }
        List<String> words = new ArrayList<>(List.of(declaration.split(" ")));
        words.remove(words.size() - 1); // the parameter's name
        words.remove("const");
        String type = String.join(" ", words);
        Kind kind = switch (type) {
            case "long", "long long", "long int", "long long int" -> Kind.LONG;
            case "int", "unsigned", "unsigned int", "u32" -> Kind.INT;
            case "float" -> Kind.FLOAT;
            default -> Kind.STRUCT;
        };
        return new Parameter(declaration, kind);
    }

    /** How many kernels (and kernel families) the file declares. */
    int size() {
        return exact.size() + families.size();
    }

    /** The parameters of kernel, or an exception if the file declares no such kernel. */
    List<Parameter> of(String kernel) {
        List<Parameter> params = exact.get(kernel);
        if (params != null) {
            return params;
        }
        for (Map.Entry<String, List<Parameter>> family : families.entrySet()) {
            if (kernel.startsWith(family.getKey())) {
                return family.getValue();
            }
        }
        throw new IllegalArgumentException(file + " declares no kernel " + kernel);
    }

    /** args packed for cuLaunchKernel by {@link KernelArgs}, once {@link #check checked} against kernel's parameters. */
    MemorySegment pack(Arena arena, String kernel, Object... args) {
        check(kernel, args);
        return KernelArgs.pack(arena, args);
    }

    /** Throws IllegalArgumentException naming the kernel and parameter if args do not fit kernel's parameters. */
    void check(String kernel, Object... args) {
        List<Parameter> params = of(kernel);
        if (params.size() != args.length) {
            throw new IllegalArgumentException(file + ": kernel " + kernel + " takes " + params.size()
                    + " arguments " + params.stream().map(Parameter::declaration).toList() + ", launched with "
                    + args.length);
        }
        for (int i = 0; i < args.length; i++) {
            Parameter p = params.get(i);
            if (!p.kind().javaType.isInstance(args[i])) {
                throw new IllegalArgumentException(file + ": kernel " + kernel + " argument " + (i + 1) + " ("
                        + p.declaration() + ") needs a " + p.kind().javaType.getSimpleName() + ", got "
                        + (args[i] == null ? "null" : args[i].getClass().getSimpleName() + " " + args[i]));
            }
        }
    }
}
