package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

/**
 * FFM bindings to NVRTC: compiles CUDA C source (kept as a jar resource) to a cubin for the GPU at hand,
 * so a user needs no compiler. Errors carry nvrtcGetErrorString and the compile log.
 */
final class Nvrtc {
    private final NativeLibrary lib;
    private final MethodHandle nvrtcVersion;
    private final MethodHandle nvrtcCreateProgram;
    private final MethodHandle nvrtcCompileProgram;
    private final MethodHandle nvrtcGetProgramLogSize;
    private final MethodHandle nvrtcGetProgramLog;
    private final MethodHandle nvrtcGetCUBINSize;
    private final MethodHandle nvrtcGetCUBIN;
    private final MethodHandle nvrtcDestroyProgram;
    private final MethodHandle nvrtcGetErrorString;

    Nvrtc() {
        lib = NativeLibrary.open("NVRTC", "float8j.cuda.libnvrtc", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");
        nvrtcVersion = lib.bind("nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcCreateProgram = lib.bind("nvrtcCreateProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        nvrtcCompileProgram = lib.bind("nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        nvrtcGetProgramLogSize = lib.bind("nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetProgramLog = lib.bind("nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBINSize = lib.bind("nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBIN = lib.bind("nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcDestroyProgram = lib.bind("nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        nvrtcGetErrorString = lib.bind("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    String loadedFrom() {
        return lib.loadedFrom();
    }

    String version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(JAVA_INT);
            MemorySegment minor = arena.allocate(JAVA_INT);
            check((int) nvrtcVersion.invokeExact(major, minor), "nvrtcVersion", null);
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private void check(int status, String call, String log) {
        if (status != 0) {
            String text;
            try {
                text = NativeLibrary.cString((MemorySegment) nvrtcGetErrorString.invokeExact(status));
            } catch (Throwable t) {
                text = "unknown error";
            }
            throw new CudaException(call + " failed: NVRTC error " + status + " (" + text + ")"
                    + (log == null || log.isBlank() ? "" : "\n" + log));
        }
    }

    /** Compiles source to a cubin with the given options (for example --gpu-architecture=sm_90). */
    byte[] compile(String source, String name, List<String> options) {
        return compile(source, name, Map.of(), options);
    }

    /** Compiles source, which may #include the given headers (name to text), to a cubin. */
    byte[] compile(String source, String name, Map<String, String> headers, List<String> options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ADDRESS);
            MemorySegment headerTexts = arena.allocate(ADDRESS, Math.max(1, headers.size()));
            MemorySegment headerNames = arena.allocate(ADDRESS, Math.max(1, headers.size()));
            int h = 0;
            for (Map.Entry<String, String> header : headers.entrySet()) {
                headerTexts.setAtIndex(ADDRESS, h, arena.allocateFrom(header.getValue()));
                headerNames.setAtIndex(ADDRESS, h, arena.allocateFrom(header.getKey()));
                h++;
            }
            // locals, not conditionals in the call: invokeExact would see a conditional's type as Object
            MemorySegment texts = headers.isEmpty() ? MemorySegment.NULL : headerTexts;
            MemorySegment names = headers.isEmpty() ? MemorySegment.NULL : headerNames;
            check((int) nvrtcCreateProgram.invokeExact(programOut, arena.allocateFrom(source), arena.allocateFrom(name),
                    headers.size(), texts, names), "nvrtcCreateProgram", null);
            MemorySegment program = programOut.get(ADDRESS, 0);
            try {
                MemorySegment opts = arena.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ADDRESS, i, arena.allocateFrom(options.get(i)));
                }
                int status = (int) nvrtcCompileProgram.invokeExact(program, options.size(), opts);
                check(status, "nvrtcCompileProgram(" + name + ")", status == 0 ? null : log(program, arena));
                MemorySegment size = arena.allocate(JAVA_LONG);
                check((int) nvrtcGetCUBINSize.invokeExact(program, size), "nvrtcGetCUBINSize", null);
                MemorySegment cubin = arena.allocate(size.get(JAVA_LONG, 0));
                check((int) nvrtcGetCUBIN.invokeExact(program, cubin), "nvrtcGetCUBIN", null);
                return cubin.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            } finally {
                int ignored = (int) nvrtcDestroyProgram.invokeExact(programOut);
            }
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private String log(MemorySegment program, Arena arena) throws Throwable {
        MemorySegment size = arena.allocate(JAVA_LONG);
        if ((int) nvrtcGetProgramLogSize.invokeExact(program, size) != 0) {
            return "";
        }
        MemorySegment text = arena.allocate(size.get(JAVA_LONG, 0) + 1);
        if ((int) nvrtcGetProgramLog.invokeExact(program, text) != 0) {
            return "";
        }
        return text.getString(0);
    }
}
