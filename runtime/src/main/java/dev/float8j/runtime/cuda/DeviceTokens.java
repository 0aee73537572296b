package dev.float8j.runtime.cuda;

/**
 * A batch's token ids on the GPU, in one int buffer: the ids in batch order, then the token indices sorted by id,
 * then where each distinct id's run starts in that order (distinct + 1 entries). The sorted form lets the
 * embedding's backward add repeated ids without atomics, in a fixed order.
 */
record DeviceTokens(Resident holder, int count, int distinct) {

    /** Sorts on the host (once per batch) and lays out the buffer's ints. */
    static int[] layout(int[] ids) {
        int n = ids.length;
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = ((long) ids[i] << 32) | i;
        }
        java.util.Arrays.sort(keys);
        int[] out = new int[3 * n + 1];
        System.arraycopy(ids, 0, out, 0, n);
        int distinct = 0;
        for (int j = 0; j < n; j++) {
            out[n + j] = (int) keys[j];
            if (j == 0 || (int) (keys[j] >> 32) != (int) (keys[j - 1] >> 32)) {
                out[2 * n + distinct++] = j;
            }
        }
        out[2 * n + distinct] = n;
        return java.util.Arrays.copyOf(out, 2 * n + distinct + 1);
    }

    static int distinct(int[] layout, int count) {
        return layout.length - 2 * count - 1;
    }

    long ids() {
        return holder.raw.pointer();
    }

    long order() {
        return ids() + 4L * count;
    }

    long starts() {
        return ids() + 8L * count;
    }
}
