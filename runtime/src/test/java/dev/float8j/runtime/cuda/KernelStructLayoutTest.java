package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The host half of the kernel struct check (the GPU half runs as each kernel file loads): the Java layouts give
 * the sizes and offsets that C's rules give for the structs in the .cu files, and a disagreement is named.
 */
class KernelStructLayoutTest {

    @Test
    void castStructsHaveTheirCLayout() {
        // struct Source { void*; int x5; float*; int; int; }: the pointer after five ints sits at 32 (8-aligned)
        assertArrayEquals(new long[] {48, 0, 8, 12, 16, 20, 24, 32, 40, 44},
                KernelModule.expectedLayout(List.of(CudaCasts.SOURCE)));
        // struct Copy { u8*; int; float*; float*; int; int; int; u32; u32*; }
        assertArrayEquals(new long[] {56, 0, 8, 16, 24, 32, 36, 40, 44, 48},
                KernelModule.expectedLayout(List.of(CudaCasts.COPY)));
    }

    @Test
    void modelOpStructsHaveTheirCLayout() {
        assertArrayEquals(new long[] {20, 0, 4, 8, 12, 16}, KernelModule.expectedLayout(List.of(CudaModelOps.ROPE_ARGS)));
        assertArrayEquals(new long[] {56, 0, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48},
                KernelModule.expectedLayout(List.of(CudaOptimizerOps.ADAMW_ARGS)));
    }

    @Test
    void aDisagreementNamesTheStructAndField() {
        List<java.lang.foreign.StructLayout> structs = List.of(CudaModelOps.ROPE_ARGS, CudaOptimizerOps.ADAMW_ARGS);
        long[] expected = KernelModule.expectedLayout(structs);
        assertNull(KernelModule.firstMismatch(structs, expected, expected.clone()));
        long[] moved = expected.clone();
        moved[6 + 9] = 36;  // AdamWArgs.sumOfSquares
        assertEquals("AdamWArgs.sumOfSquares is at offset 36 in the kernel, 32 in Java",
                KernelModule.firstMismatch(structs, expected, moved));
        long[] bigger = expected.clone();
        bigger[0] = 24;
        assertEquals("sizeof(RopeArgs) is 24 in the kernel, 20 in Java", KernelModule.firstMismatch(structs, expected, bigger));
    }

    @Test
    void tokensAreSortedByIdForTheEmbeddingBackward() {
        int[] layout = DeviceTokens.layout(new int[] {5, 2, 5, 1, 2, 5});
        // ids, then token indices sorted by id (stable), then where each distinct id starts
        assertArrayEquals(new int[] {5, 2, 5, 1, 2, 5, 3, 1, 4, 0, 2, 5, 0, 1, 3, 6}, layout);
        assertEquals(3, DeviceTokens.distinct(layout, 6));
    }
}
