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
    /** The absolute maximum its producer reported, freed with this memory (see {@link #knownAmax}). */
    private final AmaxWord amax = new AmaxWord();

    /**
     * A device word with a tensor's absolute maximum as float bits, as the kernel that wrote the tensor reported it;
     * null where none did, or where the tensor was written in place since.
     */
    private static final class AmaxWord {
        DeviceBuffer word;

        void replace(DeviceBuffer next) {
            if (word != null) {
                word.close();
            }
            word = next;
        }
    }

    private Resident(String device, DeviceTensor tensor, DeviceFloat8 fp8, DeviceBuffer raw) {
        this.device = device;
        this.tensor = tensor;
        this.fp8 = fp8;
        this.raw = raw;
        AutoCloseable owned = tensor != null ? tensor : fp8 != null ? fp8 : raw;
        AmaxWord reported = amax;
        release = CLEANER.register(this, () -> {
            try {
                owned.close();
                reported.replace(null);
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
        return amax.word;
    }

    /** Takes word (or null) as this tensor's absolute maximum; the word is freed with this memory. */
    synchronized void knownAmax(DeviceBuffer word) {
        amax.replace(word);
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
