package dev.float8j.runtime.cuda;

import dev.float8j.runtime.Tensor;

/**
 * The absolute maxima that kernels report for the tensors they write, so that the FP8 cast reading a tensor next skips
 * its own pass over it: the whole tensor's, for tensorwise casts, and, where asked for, each row's and each column's
 * (lines.cuh), for rowwise ones. They sit in one device buffer kept with the tensor's memory ({@link Resident}), and
 * are dropped when the tensor is written in place ({@link DeviceMemory#writableView}).
 *
 * <p>Row and column maxima are off until a rowwise cast that needs column maxima meets a tensor whose producer
 * reports its amax ({@link #wantLines}): a model cast tensorwise only never pays for them, and a rowwise one pays its
 * amax passes in its first step only.
 */
final class ProducerMaxima {
    private final DeviceMemory memory;
    private volatile boolean linesWanted;

    ProducerMaxima(DeviceMemory memory) {
        this.memory = memory;
    }

    /** The absolute maximum t's producer reported (a device word of float bits), or null. */
    static DeviceBuffer knownAmax(Tensor t) {
        return DeviceMemory.ours(t, t.deviceData()).knownAmax();
    }

    /** The row maxima, then the column maxima, that t's producer reported for t as it is viewed now; 0: none. */
    static long knownLines(Tensor t) {
        return DeviceMemory.ours(t, t.deviceData()).knownLines(t.rows(), t.cols());
    }

    /**
     * A zeroed device word, attached to t (a result about to be written, which nobody else sees yet) as its absolute
     * maximum, for the kernel writing t to fill in: its address. For kernels that report no row or column maxima.
     */
    long amaxWordFor(Tensor t) {
        return maximaFor(t, false).total();
    }

    /**
     * Zeroed words for a kernel about to write t (viewed as rows x cols) to report its absolute maxima into: the whole
     * tensor's always, and its row and column maxima once a rowwise cast has asked for them ({@link #wantLines}), where
     * the kernel can (kernelCanReportLines) and t's rows split into whole 16-byte-aligned quads. Not yet t's: see
     * {@link Maxima#attachTo}.
     */
    Maxima newMaxima(Tensor t, boolean kernelCanReportLines) {
        int rows = t.rows();
        int cols = t.cols();
        boolean lines = linesWanted && kernelCanReportLines && cols % 4 == 0
                && DeviceMemory.deviceView(t).pointer() % 16 == 0;
        return lines ? new Maxima(memory.zeroedWords(1 + rows + cols), rows, cols)
                : new Maxima(memory.zeroedWords(1), 0, 0);
    }

    /** As {@link #newMaxima}, attached to t at once: for a new result, which nobody else sees yet. */
    Maxima maximaFor(Tensor t, boolean kernelCanReportLines) {
        Maxima m = newMaxima(t, kernelCanReportLines);
        m.attachTo(t);
        return m;
    }

    /**
     * Whether kernels report row and column maxima from now on, where they can: a rowwise cast turns it on; off again
     * is for tests, which check that the cast does so.
     */
    void wantLines(boolean wanted) {
        linesWanted = wanted;
    }

    /**
     * The words a kernel reports a tensor's absolute maxima into: word 0 the whole tensor's, and where rows > 0, the
     * row maxima and then the column maxima of the tensor read as rows x cols.
     */
    record Maxima(DeviceBuffer words, int rows, int cols) {
        long total() {
            return words.pointer();
        }

        /** The row maxima's address (the column maxima follow), or 0 where none are asked for. */
        long lines() {
            return rows > 0 ? words.pointer() + 4 : 0L;
        }

        /** Makes these t's known maxima, once the kernel that fills them is queued; they are freed with t's memory. */
        void attachTo(Tensor t) {
            DeviceMemory.ours(t, t.deviceData()).knownMaxima(words, rows, cols);
        }
    }
}
