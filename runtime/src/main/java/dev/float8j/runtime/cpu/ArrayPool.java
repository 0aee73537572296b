package dev.float8j.runtime.cpu;

import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Released result arrays (FP8 codes, scales, F32 and BF16 outputs) kept for the next result of the same length: a fresh
 * {@code new byte[]} or {@code new float[]} is a serial memset on the calling thread (0.3 ms for the 4 MiB
 * codes of a 2048x2048 tensor), and every element of a result is overwritten anyway. Bounded in bytes and in
 * count; past either bound the oldest arrays are dropped to the garbage collector. Thread-safe.
 */
final class ArrayPool {
    private static final int MAX_ARRAYS = 64;

    private final long capacityBytes;
    /** Oldest first. */
    private final ArrayDeque<Object> free = new ArrayDeque<>();
    private long heldBytes;

    ArrayPool(long capacityBytes) {
        this.capacityBytes = capacityBytes;
    }

    /** Up to 512 MiB, at most an eighth of the heap. */
    static long defaultCapacity() {
        return Math.min(512L << 20, Runtime.getRuntime().maxMemory() / 8);
    }

    /** A byte array of the given length, contents undefined. */
    byte[] bytes(int length) {
        byte[] a = (byte[]) take(byte[].class, length);
        return a != null ? a : new byte[length];
    }

    /** A float array of the given length, contents undefined. */
    float[] floats(int length) {
        float[] a = (float[]) take(float[].class, length);
        return a != null ? a : new float[length];
    }

    /** A short array (BF16 bits) of the given length, contents undefined. */
    short[] shorts(int length) {
        short[] a = (short[]) take(short[].class, length);
        return a != null ? a : new short[length];
    }

    private synchronized Object take(Class<?> type, int length) {
        for (Iterator<Object> it = free.descendingIterator(); it.hasNext(); ) {
            Object a = it.next();
            if (a.getClass() == type && java.lang.reflect.Array.getLength(a) == length) {
                it.remove();
                heldBytes -= sizeOf(a);
                return a;
            }
        }
        return null;
    }

    /** Keeps array (a byte[], short[] or float[] no one else uses any more) for reuse. */
    synchronized void put(Object array) {
        for (Object a : free) {
            if (a == array) {
                throw new IllegalStateException("an array was released twice: two results would share it");
            }
        }
        long size = sizeOf(array);
        if (size > capacityBytes) {
            return;
        }
        free.addLast(array);
        heldBytes += size;
        while (heldBytes > capacityBytes || free.size() > MAX_ARRAYS) {
            heldBytes -= sizeOf(free.removeFirst());
        }
    }

    synchronized long heldBytes() {
        return heldBytes;
    }

    synchronized int heldArrays() {
        return free.size();
    }

    private static long sizeOf(Object array) {
        return switch (array) {
            case float[] f -> 4L * f.length;
            case short[] h -> 2L * h.length;
            default -> ((byte[]) array).length;
        };
    }
}
