package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Packs kernel arguments into the void*[] that cuLaunchKernel reads: Long for pointers, Integer, Float. */
final class KernelArgs {
    private KernelArgs() {
    }

    static MemorySegment pack(Arena arena, Object... args) {
        MemorySegment params = arena.allocate(ADDRESS, Math.max(1, args.length));
        for (int i = 0; i < args.length; i++) {
            MemorySegment value = switch (args[i]) {
                case Long l -> arena.allocateFrom(JAVA_LONG, l);
                case Integer n -> arena.allocateFrom(JAVA_INT, n);
                case Float f -> arena.allocateFrom(JAVA_FLOAT, f);
                case MemorySegment struct -> struct;
                default -> throw new IllegalArgumentException("unsupported kernel argument " + args[i]);
            };
            params.setAtIndex(ADDRESS, i, value);
        }
        return params;
    }
}
