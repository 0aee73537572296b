package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.StructLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One kernel source file (one op family, a jar resource next to this class), compiled by NVRTC for the GPU at hand
 * and loaded as a module. Every file may include common.cuh, the producers of line maxima lines.cuh, the attention
 * files attention.cuh, and the files compiled for sm_90a (named *_sm90.cu) hopper.cuh.
 *
 * <p>Argument structs are checked on both sides at load time: a file that passes structs by value exports
 * {@code <stem>_layout(long long* out)}, which writes, for each struct in order, its sizeof and then the offset of
 * each field; the Java side lists the same structs as {@link StructLayout}s (padding as padding layouts) and the
 * two lists must agree, or loading fails naming the struct and field.
 */
final class KernelModule {
    /** The headers a kernel file may include (see the class comment). */
    private static final List<String> HEADERS = List.of("common.cuh", "lines.cuh", "attention.cuh", "hopper.cuh");
    /** Kernel files for Hopper only (see {@link #architecture}). */
    static final String HOPPER_SUFFIX = "_sm90.cu";

    private final CudaContext cuda;
    private final String file;
    private final MemorySegment module;
    private final KernelSignatures signatures;
    private final Map<String, MemorySegment> functions = new HashMap<>();

    private KernelModule(CudaContext cuda, String file, KernelSignatures signatures, MemorySegment module) {
        this.cuda = cuda;
        this.file = file;
        this.signatures = signatures;
        this.module = module;
    }

    /**
     * Loads file's cubin from the {@link KernelCache}, or compiles it and stores it there, then checks its structs
     * (none: no check) against the kernel's own layout. A cached cubin that the driver refuses is compiled again.
     */
    static KernelModule load(CudaContext cuda, String file, List<StructLayout> structs) {
        String source = resource(file);
        Map<String, String> headers = headers();
        List<String> options = options(file, cuda.computeCapability);
        Nvrtc nvrtc = new Nvrtc();
        KernelCache cache = KernelCache.fromEnvironment();
        String key = KernelCache.key("NVRTC " + nvrtc.version() + " " + nvrtc.loadedFrom(), options, file, source,
                headers);
        MemorySegment module = null;
        byte[] cached = cache.load(key);
        if (cached != null) {
            try {
                module = cuda.driver.loadModule(cached);
            } catch (CudaException e) {
                cache.remove(key);
            }
        }
        if (module == null) {
            byte[] cubin = nvrtc.compile(source, file, headers, options);
            module = cuda.driver.loadModule(cubin);
            cache.store(key, cubin);
        }
        KernelModule loaded = new KernelModule(cuda, file, KernelSignatures.parse(file, source), module);
        if (!structs.isEmpty()) {
            loaded.checkLayouts(structs);
        }
        return loaded;
    }

    /** Compiles the kernel file (a resource beside this class) with NVRTC for the GPU generation to a cubin. */
    static byte[] compile(Nvrtc nvrtc, String file, int computeCapability) {
        return nvrtc.compile(resource(file), file, headers(), options(file, computeCapability));
    }

    /** Every header a kernel file may include, name to text. */
    private static Map<String, String> headers() {
        Map<String, String> headers = new LinkedHashMap<>();
        for (String header : HEADERS) {
            headers.put(header, resource(header));
        }
        return headers;
    }

    private static List<String> options(String file, int computeCapability) {
        return List.of("--gpu-architecture=" + architecture(file, computeCapability), "--std=c++17");
    }

    /**
     * The NVRTC architecture for file on a GPU of that generation: sm_NN, or sm_90a for a file named *_sm90.cu. Those
     * use Hopper's wgmma, which exists only in the architecture-specific sm_90a target and so runs on sm_90 alone.
     *
     * @throws IllegalArgumentException for a *_sm90.cu file on any other generation
     */
    static String architecture(String file, int computeCapability) {
        if (!file.endsWith(HOPPER_SUFFIX)) {
            return "sm_" + computeCapability;
        }
        if (computeCapability != 90) {
            throw new IllegalArgumentException(file + " runs on sm_90 (Hopper) only, not sm_" + computeCapability);
        }
        return "sm_90a";
    }

    /** The kernel of that name, looked up once. */
    MemorySegment function(String name) {
        return functions.computeIfAbsent(name, n -> cuda.driver.function(module, n));
    }

    /** kernel's arguments packed for cuLaunchKernel, once they are checked against its declaration in the file. */
    MemorySegment args(Arena arena, String kernel, Object... args) {
        return signatures.pack(arena, kernel, args);
    }

    /** The numbers the kernel's layout function must write: per struct its size, then each field's offset. */
    static long[] expectedLayout(List<StructLayout> structs) {
        List<Long> out = new ArrayList<>();
        for (StructLayout s : structs) {
            out.add(s.byteSize());
            long offset = 0;
            for (MemoryLayout member : s.memberLayouts()) {
                if (!(member instanceof PaddingLayout)) {
                    out.add(offset);
                }
                offset += member.byteSize();
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private void checkLayouts(List<StructLayout> structs) {
        long[] expected = expectedLayout(structs);
        String kernel = file.substring(0, file.indexOf('.')) + "_layout";
        long[] actual;
        try (DeviceBuffer out = cuda.allocator.allocate(8L * expected.length); Arena arena = Arena.ofConfined()) {
            cuda.driver.launch(function(kernel), kernel, 1, 1, 1, 1, 1, 1, 0, cuda.stream,
                    args(arena, kernel, out.pointer()));
            cuda.driver.synchronize(cuda.stream);
            MemorySegment host = arena.allocate(JAVA_LONG, expected.length);
            cuda.driver.copyToHost(host, out.pointer(), 8L * expected.length);
            actual = host.toArray(JAVA_LONG);
        }
        String mismatch = firstMismatch(structs, expected, actual);
        if (mismatch != null) {
            throw new IllegalStateException(file + ": " + mismatch);
        }
    }

    /** Null when the lists agree, else which struct and field differ. */
    static String firstMismatch(List<StructLayout> structs, long[] expected, long[] actual) {
        int i = 0;
        for (StructLayout s : structs) {
            String name = s.name().orElse("struct");
            if (expected[i] != actual[i]) {
                return "sizeof(" + name + ") is " + actual[i] + " in the kernel, " + expected[i] + " in Java";
            }
            i++;
            for (MemoryLayout member : s.memberLayouts()) {
                if (member instanceof PaddingLayout) {
                    continue;
                }
                if (expected[i] != actual[i]) {
                    return name + "." + member.name().orElse("?") + " is at offset " + actual[i] + " in the kernel, "
                            + expected[i] + " in Java";
                }
                i++;
            }
        }
        return null;
    }

    private static String resource(String name) {
        try (InputStream in = KernelModule.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(name + " is missing from the float8j jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
