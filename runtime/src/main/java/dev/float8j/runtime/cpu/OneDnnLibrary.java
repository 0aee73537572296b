package dev.float8j.runtime.cpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * FFM bindings to the part of oneDNN's C API (libdnnl.so.3, the OpenMP build) that the BF16 matmul needs, plus
 * OpenMP's {@code omp_set_num_threads} from the libgomp it links.
 *
 * <p>Where the library comes from, first that applies:
 * <ol>
 * <li>{@code -Dfloat8j.onednn.path=}: libdnnl.so.3 itself or the folder holding it;
 * <li>the classpath: the {@code org.bytedeco:dnnl} jar with classifier {@code linux-x86_64} (libdnnl.so.3 and
 * libgomp.so.1), plus {@code org.bytedeco:opencl} of the same classifier for the libOpenCL.so.1 that this build
 * links (without it, the system's must be installed); they are copied once into a folder under
 * {@code java.io.tmpdir} and loaded from there;
 * <li>the dynamic loader's own search (LD_LIBRARY_PATH, a system package).
 * </ol>
 * {@link #load()} throws {@link OneDnnUnavailableException} naming each place it tried.
 */
final class OneDnnLibrary {
    static final String PATH_PROPERTY = "float8j.onednn.path";
    static final String SONAME = "libdnnl.so.3";
    private static final String DNNL_RESOURCES = "org/bytedeco/dnnl/linux-x86_64/";
    private static final String OPENCL_RESOURCES = "org/bytedeco/opencl/linux-x86_64/";

    static final int STATUS_SUCCESS = 0;
    static final int ENGINE_CPU = 1;
    static final int STREAM_DEFAULT_FLAGS = 1;
    static final int DATA_BF16 = 2;
    static final int DATA_F32 = 3;
    static final int ARG_SRC = 1;
    static final int ARG_DST = 17;
    static final int ARG_WEIGHTS = 33;
    static final int QUERY_IMPL_INFO_STR = 8;
    static final int ARG_SRC_1 = 2;
    /** DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) is this times i + 1 (oneDNN 3.x). */
    static final int ARG_ATTR_MULTIPLE_POST_OP_BASE = 32768;
    static final int ALG_BINARY_ADD = 0x1fff0;
    static final int ALG_BINARY_MUL = 0x1fff1;
    /** dnnl_dims_t: int64_t[DNNL_MAX_NDIMS]. */
    static final int MAX_NDIMS = 12;
    /** dnnl_exec_arg_t: {int arg; dnnl_memory_t memory;}. */
    static final StructLayout EXEC_ARG = MemoryLayout.structLayout(JAVA_INT.withName("arg"),
            MemoryLayout.paddingLayout(4), ADDRESS.withName("memory"));
    /** dnnl_version_t: {int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime;}. */
    private static final StructLayout VERSION = MemoryLayout.structLayout(JAVA_INT, JAVA_INT, JAVA_INT,
            MemoryLayout.paddingLayout(4), ADDRESS, JAVA_INT, JAVA_INT);
    /** dnnl_cpu_isa_t bits: avx512_core_bf16 = 0xe7 has 0x80; the AMX ISAs (0xfef and up) have 0x800. */
    private static final int ISA_BF16_BIT = 0x80;
    private static final int ISA_AMX_BIT = 0x800;

    private static volatile OneDnnLibrary loaded;

    private final String loadedFrom;
    final MethodHandle engineCreate;
    final MethodHandle streamCreate;
    final MethodHandle streamWait;
    final MethodHandle memoryDescCreateWithStrides;
    final MethodHandle memoryDescDestroy;
    final MethodHandle matmulPrimitiveDescCreate;
    final MethodHandle primitiveDescQuery;
    final MethodHandle primitiveDescDestroy;
    final MethodHandle primitiveCreate;
    final MethodHandle primitiveExecute;
    final MethodHandle memoryCreate;
    final MethodHandle memoryDestroy;
    final MethodHandle ompSetNumThreads;
    final MethodHandle attrCreate;
    final MethodHandle attrDestroy;
    final MethodHandle attrSetPostOps;
    final MethodHandle postOpsCreate;
    final MethodHandle postOpsDestroy;
    final MethodHandle postOpsAppendBinary;
    private final String version;
    private final int effectiveIsa;

    private OneDnnLibrary(SymbolLookup lookup, String loadedFrom) {
        this.loadedFrom = loadedFrom;
        engineCreate = bind(lookup, "dnnl_engine_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        streamCreate = bind(lookup, "dnnl_stream_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        streamWait = bind(lookup, "dnnl_stream_wait", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        memoryDescCreateWithStrides = bind(lookup, "dnnl_memory_desc_create_with_strides",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        memoryDescDestroy = bind(lookup, "dnnl_memory_desc_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        matmulPrimitiveDescCreate = bind(lookup, "dnnl_matmul_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        primitiveDescQuery = bind(lookup, "dnnl_primitive_desc_query",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        primitiveDescDestroy = bind(lookup, "dnnl_primitive_desc_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        primitiveCreate = bind(lookup, "dnnl_primitive_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        primitiveExecute = bind(lookup, "dnnl_primitive_execute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        memoryCreate = bind(lookup, "dnnl_memory_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        memoryDestroy = bind(lookup, "dnnl_memory_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        attrCreate = bind(lookup, "dnnl_primitive_attr_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        attrDestroy = bind(lookup, "dnnl_primitive_attr_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        attrSetPostOps = bind(lookup, "dnnl_primitive_attr_set_post_ops",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        postOpsCreate = bind(lookup, "dnnl_post_ops_create", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        postOpsDestroy = bind(lookup, "dnnl_post_ops_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        postOpsAppendBinary = bind(lookup, "dnnl_post_ops_append_binary",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        // libdnnl.so.3 links libgomp, so the symbol is found through the library's dependencies.
        ompSetNumThreads = bind(lookup, "omp_set_num_threads", FunctionDescriptor.ofVoid(JAVA_INT));
        MethodHandle dnnlVersion = bind(lookup, "dnnl_version", FunctionDescriptor.of(ADDRESS));
        MethodHandle getEffectiveCpuIsa = bind(lookup, "dnnl_get_effective_cpu_isa", FunctionDescriptor.of(JAVA_INT));
        try {
            MemorySegment v = ((MemorySegment) dnnlVersion.invokeExact()).reinterpret(VERSION.byteSize());
            version = v.get(JAVA_INT, 0) + "." + v.get(JAVA_INT, 4) + "." + v.get(JAVA_INT, 8);
            effectiveIsa = (int) getEffectiveCpuIsa.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The library, loaded on the first call; throws {@link OneDnnUnavailableException} if it cannot be. */
    static OneDnnLibrary load() {
        OneDnnLibrary library = loaded;
        if (library == null) {
            synchronized (OneDnnLibrary.class) {
                library = loaded;
                if (library == null) {
                    library = open(System.getProperty(PATH_PROPERTY));
                    loaded = library;
                }
            }
        }
        return library;
    }

    /** Loads from override (a file or folder) if not null or blank, else from the classpath or the loader's path. */
    static OneDnnLibrary open(String override) {
        List<String> failures = new ArrayList<>();
        if (override != null && !override.isBlank()) {
            Path path = Path.of(override);
            Path file = Files.isDirectory(path) ? path.resolve(SONAME) : path;
            return new OneDnnLibrary(lookup(file.toString(), failures, "-D" + PATH_PROPERTY), file.toString());
        }
        Path extracted = extractFromClasspath(failures);
        if (extracted != null) {
            SymbolLookup lookup = lookup(extracted.toString(), failures, "the classpath");
            return new OneDnnLibrary(lookup, extracted + " (from the classpath)");
        }
        return new OneDnnLibrary(lookup(SONAME, failures, "the dynamic loader"), SONAME);
    }

    private static SymbolLookup lookup(String candidate, List<String> failures, String where) {
        try {
            return candidate.contains("/") ? SymbolLookup.libraryLookup(Path.of(candidate), Arena.global())
                    : SymbolLookup.libraryLookup(candidate, Arena.global());
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            failures.add(where + ": " + candidate + " (" + e.getMessage() + ")");
            throw new OneDnnUnavailableException("cannot load oneDNN; tried " + String.join("; ", failures)
                    + ". Put org.bytedeco:dnnl:3.8.1-1.5.12:linux-x86_64 (and org.bytedeco:opencl:3.0-1.5.12:linux-x86_64"
                    + " unless libOpenCL.so.1 is installed) on the classpath, or set -D" + PATH_PROPERTY
                    + "=/path/to/" + SONAME);
        }
    }

    /**
     * Copies libdnnl.so.3, libgomp.so.1 and (if present) libOpenCL.so.1 from the classpath into one folder, so that
     * libdnnl's RUNPATH ($ORIGIN) finds the other two; null if libdnnl.so.3 is not on the classpath. The folder is
     * named by the resource's location and size, and files are moved into place whole, so concurrent JVMs and
     * later runs share one copy.
     */
    private static Path extractFromClasspath(List<String> failures) {
        ClassLoader loader = OneDnnLibrary.class.getClassLoader();
        URL dnnl = loader.getResource(DNNL_RESOURCES + SONAME);
        if (dnnl == null) {
            failures.add("the classpath: no " + DNNL_RESOURCES + SONAME);
            return null;
        }
        try {
            Path dir = Path.of(System.getProperty("java.io.tmpdir"), "float8j-onednn-" + System.getProperty("user.name"),
                    Integer.toHexString(dnnl.toString().hashCode()));
            Files.createDirectories(dir);
            extract(loader, DNNL_RESOURCES + "libgomp.so.1", dir.resolve("libgomp.so.1"));
            extract(loader, OPENCL_RESOURCES + "libOpenCL.so.1", dir.resolve("libOpenCL.so.1"));
            extract(loader, DNNL_RESOURCES + SONAME, dir.resolve(SONAME));
            return dir.resolve(SONAME);
        } catch (IOException e) {
            throw new OneDnnUnavailableException("cannot copy oneDNN out of the classpath (" + dnnl + "): " + e, e);
        }
    }

    private static void extract(ClassLoader loader, String resource, Path target) throws IOException {
        URL url = loader.getResource(resource);
        if (url == null) {
            return;
        }
        var connection = url.openConnection();
        long size = connection.getContentLengthLong();
        if (Files.exists(target) && Files.size(target) == size) {
            return;
        }
        Path temp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".part");
        try (InputStream in = connection.getInputStream()) {
            Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private MethodHandle bind(SymbolLookup lookup, String symbol, FunctionDescriptor descriptor) {
        MemorySegment address = lookup.find(symbol).orElseThrow(() -> new OneDnnUnavailableException(
                loadedFrom + " has no symbol " + symbol + " (not oneDNN 3.x with OpenMP threading?)"));
        return Linker.nativeLinker().downcallHandle(address, descriptor);
    }

    String loadedFrom() {
        return loadedFrom;
    }

    String version() {
        return version;
    }

    /** True if oneDNN runs BF16 on hardware here (AVX512-BF16 or AMX), false if it would emulate it. */
    boolean hasBf16Hardware() {
        return (effectiveIsa & (ISA_BF16_BIT | ISA_AMX_BIT)) != 0;
    }

    /** The ISA oneDNN dispatches to, in words. */
    String isaName() {
        if ((effectiveIsa & ISA_AMX_BIT) != 0) {
            return "AMX";
        }
        if ((effectiveIsa & ISA_BF16_BIT) != 0) {
            return "AVX512-BF16";
        }
        return "no BF16 hardware (ISA 0x" + Integer.toHexString(effectiveIsa) + ")";
    }

    /** Throws with the call's name unless status is dnnl_success. */
    /** dnnl_unimplemented: no implementation of the primitive for these types on this CPU. */
    static final int STATUS_UNIMPLEMENTED = 3;

    static void check(int status, String call) {
        if (status != STATUS_SUCCESS) {
            String name = switch (status) {
                case 1 -> "out of memory";
                case 2 -> "invalid arguments";
                case 3 -> "unimplemented";
                case 5 -> "runtime error";
                default -> "status " + status;
            };
            throw new IllegalStateException("oneDNN " + call + " failed: " + name);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
