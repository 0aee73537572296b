package dev.float8j.runtime.cuda;

import dev.float8j.runtime.DeviceData;
import java.lang.ref.Cleaner;

/**
 * Device memory held by a host-side {@link dev.float8j.runtime.Tensor} or
 * {@link dev.float8j.runtime.Float8Tensor}: a device tensor or a quantized device copy (or the raw buffer
 * of a batch's token ids). Layers drop their
 * intermediate tensors without closing them, so the memory goes back to the caching allocator when the
 * garbage collector finds this object unreachable (the allocator runs the collector when the device is full),
 * or when the {@link DeviceScope} it was made in closes, or at once when its last view is released
 * ({@code backend.release}). Every operation runs on the backend's one stream, so reuse after the last queued use
 * is safe; a collective on the communication stream pins what it reads and writes ({@link #pin}) until the
 * compute stream has waited for it, and a free asked for meanwhile happens then.
 */
final class Resident implements DeviceData {
    private static final Cleaner CLEANER = Cleaner.create();

    private final String device;
    /** Exactly one is set. */
    final DeviceTensor tensor;
    final DeviceFloat8 fp8;
    final DeviceBuffer raw;
    private final Cleaner.Cleanable release;
    /** Collectives in flight that use this memory. */
    private int pins;
    private boolean freeWhenUnpinned;
    /** The absolute maxima its producer reported, freed with this memory (see {@link #knownAmax}). */
    private final ReportedMaxima amax = new ReportedMaxima();

    /**
     * What the kernel that wrote the tensor reported of its absolute maxima, as float bits in one device buffer: word 0
     * is the whole tensor's, and where lineRows > 0, lineRows row maxima and then lineCols column maxima follow
     * (lines.cuh). Null where no kernel reported, or where the tensor was written in place since.
     */
    private static final class ReportedMaxima {
        DeviceBuffer words;
        int lineRows;
        int lineCols;

        void replace(DeviceBuffer next, int rows, int cols) {
            if (words != null) {
                words.close();
            }
            words = next;
            lineRows = rows;
            lineCols = cols;
        }
    }

    private Resident(String device, DeviceTensor tensor, DeviceFloat8 fp8, DeviceBuffer raw) {
        this.device = device;
        this.tensor = tensor;
        this.fp8 = fp8;
        this.raw = raw;
        AutoCloseable owned = tensor != null ? tensor : fp8 != null ? fp8 : raw;
        ReportedMaxima reported = amax;
        release = CLEANER.register(this, () -> {
            try {
                owned.close();
                reported.replace(null, 0, 0);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /**
     * Hands the memory back now (its last view released, or a {@link DeviceScope} closing), or once the last
     * collective pinning it is done; the collector will then find nothing to do.
     */
    synchronized void free() {
        if (pins > 0) {
            freeWhenUnpinned = true;
        } else {
            release.clean();
        }
    }

    /** A collective in flight uses this memory: it is not handed back before {@link #unpin}. */
    synchronized void pin() {
        pins++;
    }

    /** The compute stream has waited for the collective: a free asked for meanwhile happens now. */
    synchronized void unpin() {
        if (pins == 0) {
            throw new IllegalStateException("unpin without pin");
        }
        pins--;
        if (pins == 0 && freeWhenUnpinned) {
            freeWhenUnpinned = false;
            release.clean();
        }
    }

    /**
     * The device word holding this tensor's absolute maximum (float bits, NaN above +Inf as an unsigned integer),
     * which the kernel that wrote it reported; null if none did. A tensorwise cast reads it instead of passing over
     * the tensor. Every view of a device tensor covers all of it (views only reshape), so it holds for each.
     */
    synchronized DeviceBuffer knownAmax() {
        return amax.words;
    }

    /**
     * The address of the row maxima, followed by the column maxima, that the kernel which wrote this tensor reported
     * for it read as rows x cols (lines.cuh); 0 where none were, or for another shape. A rowwise cast reads them
     * instead of passing over the tensor.
     */
    synchronized long knownLines(int rows, int cols) {
        return amax.words != null && amax.lineRows == rows && amax.lineCols == cols ? amax.words.pointer() + 4 : 0L;
    }

    /** Takes word (or null) as this tensor's absolute maximum; the word is freed with this memory. */
    synchronized void knownAmax(DeviceBuffer word) {
        amax.replace(word, 0, 0);
    }

    /**
     * Takes words (1 + rows + cols of them) as this tensor's absolute maximum followed by its row and column maxima
     * read as rows x cols; they are freed with this memory.
     */
    synchronized void knownMaxima(DeviceBuffer words, int rows, int cols) {
        amax.replace(words, rows, cols);
    }

    static Resident of(String device, DeviceTensor tensor) {
        return new Resident(device, tensor, null, null);
    }

    static Resident of(String device, DeviceFloat8 fp8) {
        return new Resident(device, null, fp8, null);
    }

    /** Untyped device memory (a batch's token ids). */
    static Resident of(String device, DeviceBuffer raw) {
        return new Resident(device, null, null, raw);
    }

    @Override
    public String device() {
        return device;
    }
}
