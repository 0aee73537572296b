package dev.float8j.runtime.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One shared library opened through the FFM API, found by a list of candidate names (a system property
 * first, then standard sonames, then standard CUDA install paths), with downcall handles bound by name.
 */
final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();
    private final SymbolLookup lookup;
    private final String loadedFrom;

    private NativeLibrary(SymbolLookup lookup, String loadedFrom) {
        this.lookup = lookup;
        this.loadedFrom = loadedFrom;
    }

    /**
     * Opens the first candidate that loads.
     *
     * @param what a human name ("the CUDA driver")
     * @param property system property that, when set, names the only file to try
     * @param sonames names handed to the dynamic loader, in order
     */
    static NativeLibrary open(String what, String property, String... sonames) {
        List<String> candidates = new ArrayList<>();
        String override = System.getProperty(property);
        if (override != null && !override.isBlank()) {
            candidates.add(override);
        } else {
            for (String name : sonames) {
                candidates.add(name);
            }
            for (String dir : installDirs()) {
                for (String name : sonames) {
                    if (Files.exists(Path.of(dir, name))) {
                        candidates.add(Path.of(dir, name).toString());
                    }
                }
            }
        }
        List<String> failures = new ArrayList<>();
        for (String candidate : candidates) {
            try {
                SymbolLookup lookup = candidate.contains("/")
                        ? SymbolLookup.libraryLookup(Path.of(candidate), Arena.global())
                        : SymbolLookup.libraryLookup(candidate, Arena.global());
                return new NativeLibrary(lookup, candidate);
            } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
                failures.add(candidate + " (" + e.getMessage() + ")");
            }
        }
        throw new CudaUnavailableException("cannot load " + what + "; tried " + String.join(", ", failures)
                + (override == null ? "; set -D" + property + "=/path/to/library to choose the file" : ""));
    }

    private static List<String> installDirs() {
        List<String> dirs = new ArrayList<>();
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null) {
                dirs.add(home + "/lib64");
            }
        }
        dirs.add("/usr/local/cuda/lib64");
        dirs.add("/usr/local/cuda/targets/x86_64-linux/lib");
        dirs.add("/usr/lib/x86_64-linux-gnu");
        return dirs;
    }

    String loadedFrom() {
        return loadedFrom;
    }

    MethodHandle bind(String symbol, FunctionDescriptor descriptor) {
        MemorySegment address = lookup.find(symbol).orElseThrow(
                () -> new CudaUnavailableException(loadedFrom + " has no symbol " + symbol + " (too old a version?)"));
        return LINKER.downcallHandle(address, descriptor);
    }

    /** Reads a NUL-terminated C string returned by a library (static storage, never freed). */
    static String cString(MemorySegment pointer) {
        if (pointer.equals(MemorySegment.NULL)) {
            return "(no text)";
        }
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
