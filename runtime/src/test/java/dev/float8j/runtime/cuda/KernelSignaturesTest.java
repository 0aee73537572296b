package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.runtime.cuda.KernelSignatures.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The launch check's host half: every kernel of every .cu file is read with its parameters, and a launch whose Java
 * values do not match them (an int for a long count, one argument too few) is refused with the kernel and parameter
 * named, before cuLaunchKernel could read past the value.
 */
class KernelSignaturesTest {

    private static String source(String file) throws IOException {
        try (InputStream in = KernelModule.class.getResourceAsStream(file)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyKernelOfEveryFileIsRead() throws IOException {
        for (String file : KernelSourcesCompileTest.FILES) {
            String text = source(file);
            Matcher m = Pattern.compile("__global__").matcher(text);
            int declared = 0;
            while (m.find()) {
                declared++;
            }
            assertEquals(declared, KernelSignatures.parse(file, text).size(), file);
        }
    }

    @Test
    void parametersAreReadAsDeclared() throws IOException {
        KernelSignatures elementwise = KernelSignatures.parse("elementwise.cu", source("elementwise.cu"));
        // void swiglu(const void* gate, int gType, const void* up, int uType, void* h, long n, u32* amax)
        assertEquals(List.of(Kind.POINTER, Kind.INT, Kind.POINTER, Kind.INT, Kind.POINTER, Kind.LONG, Kind.POINTER),
                elementwise.of("swiglu").stream().map(KernelSignatures.Parameter::kind).toList());
        KernelSignatures cast = KernelSignatures.parse("cast.cu", source("cast.cu"));
        // cast_tiles_##NAME(Source src, int rows, int cols, int mode, int tile, Copy rowCopy, Copy colCopy,
        //                   const u32* rowAmax, const u32* colAmax, const u32* totalAmax, int pipelined,
        //                   u32* amaxOut)
        assertEquals(List.of(Kind.STRUCT, Kind.INT, Kind.INT, Kind.INT, Kind.INT, Kind.STRUCT, Kind.STRUCT,
                Kind.POINTER, Kind.POINTER, Kind.POINTER, Kind.INT, Kind.POINTER),
                cast.of("cast_tiles_bf16").stream().map(KernelSignatures.Parameter::kind).toList());
        KernelSignatures attention = KernelSignatures.parse("attention.cu", source("attention.cu"));
        // attention_backward_dq(const float* dqAccum, u16* dq, long long count, float scale)
        assertEquals(List.of(Kind.POINTER, Kind.POINTER, Kind.LONG, Kind.FLOAT),
                attention.of("attention_backward_dq").stream().map(KernelSignatures.Parameter::kind).toList());
    }

    @Test
    void anIntForALongCountIsRefusedNamingTheParameter() throws IOException {
        KernelSignatures elementwise = KernelSignatures.parse("elementwise.cu", source("elementwise.cu"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> elementwise.check("swiglu", 1L, 0, 2L, 0, 3L, 1280, 0L));
        assertEquals("elementwise.cu: kernel swiglu argument 6 (long n) needs a Long, got Integer 1280",
                e.getMessage());
        assertDoesNotThrow(() -> elementwise.check("swiglu", 1L, 0, 2L, 0, 3L, 1280L, 0L));
    }

    @Test
    void aWrongCountOrAnUnknownKernelIsRefused() throws IOException {
        KernelSignatures elementwise = KernelSignatures.parse("elementwise.cu", source("elementwise.cu"));
        IllegalArgumentException few = assertThrows(IllegalArgumentException.class,
                () -> elementwise.check("add_into", 1L, 2L, 3L));
        assertEquals("elementwise.cu: kernel add_into takes 5 arguments [void* into, int intoType, const void* g, long n,"
                + " int gType], launched with 3", few.getMessage());
        assertThrows(IllegalArgumentException.class, () -> elementwise.check("no_such_kernel"));
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> elementwise.pack(arena, "add_into", 1L, 0, 2L, 3, 0));
        }
    }
}
