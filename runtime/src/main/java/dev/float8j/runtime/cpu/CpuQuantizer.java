package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Fp8Vectors.FLOATS;
import static dev.float8j.runtime.cpu.Fp8Vectors.INTS;
import static dev.float8j.runtime.cpu.Fp8Vectors.LANES;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.ScaledCast;
import dev.float8j.runtime.quant.NonFiniteException;
import dev.float8j.runtime.quant.Scales;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vectorized quantization of one input under one or more specs at once. Rows go in groups holding whole
 * blocks: a group is read once to take the absolute maximum of every block of every spec (as float bits:
 * for non-negative floats integer order is float order, and NaN or Inf shows up as bits at or above
 * 0x7F800000), then read again from cache to write the codes of every spec. Scales come from {@link Scales#scale}, codes from the same rounding as
 * {@link dev.float8j.plan.Fp8Format#encodeSaturating}, so the result equals the reference bit for bit.
 */
final class CpuQuantizer {
    private static final int PARALLEL_THRESHOLD = 1 << 16;
    private static final int NON_FINITE_BITS = 0x7F80_0000;
    /** Rows per chunk of work (rounded to whole row groups): 256 KiB of a 2048-column F32 tensor. */
    private static final int CHUNK_ROWS = 32;

    private final CpuThreads threads;
    private final ArrayPool pool;

    CpuQuantizer(CpuThreads threads, ArrayPool pool) {
        this.threads = threads;
        this.pool = pool;
    }

    /** One spec's work: its block geometry, its amax grid (float bits) and then its scales and codes. */
    private static final class Target {
        final QuantSpec spec;
        final Fp8Vectors.Codec codec;
        final int rows;
        final int cols;
        final int blockRows;
        final int blockCols;
        final int scaleCols;
        final int[] amaxBits;
        final float[] scales;
        private final ArrayPool pool;
        /** Taken by {@link #allocateCodes}, on the calling thread while the other threads start reading. */
        byte[] codes;
        /** True when one block spans all rows, so threads keep private amax grids and merge them. */
        final boolean wholeColumnBlocks;

        Target(QuantSpec spec, int rows, int cols, ArrayPool pool) {
            this.pool = pool;
            this.spec = spec;
            this.codec = new Fp8Vectors.Codec(spec.format());
            this.rows = rows;
            this.cols = cols;
            this.blockRows = spec.blockRows(rows);
            this.blockCols = spec.blockCols(cols);
            this.scaleCols = (cols + blockCols - 1) / blockCols;
            int scaleRows = (rows + blockRows - 1) / blockRows;
            this.amaxBits = new int[scaleRows * scaleCols];
            this.scales = pool.floats(scaleRows * scaleCols); // every scale is overwritten
            this.wholeColumnBlocks = blockRows >= rows;
        }

        /** Every code is overwritten, so a released array needs no zeroing; a new one is a serial memset. */
        void allocateCodes() {
            codes = pool.bytes(rows * cols);
        }
    }

    /** x quantized; the result records originalDType as the dtype it stands for. */
    Float8Tensor quantize(Tensor x, QuantSpec spec, DType originalDType) {
        Target t = new Target(spec, x.rows(), x.cols(), pool);
        run(x, List.of(t), spec.axis());
        return Float8Tensor.ofReusable(t.codes, t.scales, spec, originalDType, x.shape());
    }

    Float8Tensor[] quantizeBothAxes(Tensor x, QuantSpec alongColumns, QuantSpec alongRows) {
        Target columns = new Target(alongColumns.withAxis(1), x.rows(), x.cols(), pool);
        Target rows = new Target(alongRows.withAxis(0), x.rows(), x.cols(), pool);
        run(x, List.of(columns, rows), 1);
        return new Float8Tensor[] {Float8Tensor.ofReusable(columns.codes, columns.scales, columns.spec, x.dtype(), x.shape()),
                Float8Tensor.ofReusable(rows.codes, rows.scales, rows.spec, x.dtype(), x.shape())};
    }

    /**
     * {@link dev.float8j.runtime.backend.Backend#quantizeWithScales} for one or two specs (a delayed cast, or one along
     * both axes), vectorized, rows split among the threads: x's codes under each spec at its scale, saturating, and
     * x's amax, in one pass over x. The codes are those of the host loop bit for bit (both encode x · scale with
     * saturation); a NaN or Inf fails the call after the pass, named as the host loop names it, and the codes go back
     * to the pool.
     */
    ScaledCast[] quantizeWithScales(Tensor x, List<QuantSpec> specs, float[] scales) {
        if (specs.isEmpty() || specs.size() > 2) {
            throw new IllegalArgumentException("one pass casts one or two copies, got " + specs.size() + " specs");
        }
        int rows = x.rows();
        int cols = x.cols();
        boolean two = specs.size() == 2;
        byte[] first = pool.bytes(rows * cols); // every code is overwritten
        byte[] second = two ? pool.bytes(rows * cols) : null;
        Fp8Format format0 = specs.get(0).format();
        Fp8Format format1 = specs.get(two ? 1 : 0).format();
        Fp8Vectors.Codec codec0 = new Fp8Vectors.Codec(format0);
        Fp8Vectors.Codec codec1 = new Fp8Vectors.Codec(format1);
        float scale0 = scales[0];
        float scale1 = scales[two ? 1 : 0];
        int parts = (long) rows * cols < PARALLEL_THRESHOLD ? 1 : Math.min(threads.count(), rows);
        // per part: the largest magnitude's bits, compared as ints (NaN and Inf lie above every finite value)
        int[] topBits = new int[parts];
        threads.forEach(parts, p -> {
            float[] buffer = x.dtype() == DType.F32 ? null : new float[cols];
            IntVector top = IntVector.zero(INTS);
            int topScalar = 0;
            for (int r = (int) ((long) rows * p / parts), end = (int) ((long) rows * (p + 1) / parts); r < end; r++) {
                float[] src = rowSource(x, r, buffer);
                int off = buffer == null ? r * cols : 0;
                int out = r * cols;
                int c = 0;
                for (; c <= cols - LANES; c += LANES) {
                    FloatVector v = FloatVector.fromArray(FLOATS, src, off + c);
                    top = top.max(v.reinterpretAsInts().and(0x7FFF_FFFF));
                    codec0.encodeInto(v.mul(scale0), first, out + c);
                    if (two) {
                        codec1.encodeInto(v.mul(scale1), second, out + c);
                    }
                }
                for (; c < cols; c++) {
                    float v = src[off + c];
                    topScalar = Math.max(topScalar, Float.floatToRawIntBits(v) & 0x7FFF_FFFF);
                    first[out + c] = format0.encodeSaturating(v * scale0);
                    if (two) {
                        second[out + c] = format1.encodeSaturating(v * scale1);
                    }
                }
            }
            topBits[p] = Math.max(top.reduceLanes(VectorOperators.MAX), topScalar);
        });
        int amaxBits = 0;
        for (int bits : topBits) {
            amaxBits = Math.max(amaxBits, bits);
        }
        if (amaxBits >= NON_FINITE_BITS) {
            pool.put(first);
            if (two) {
                pool.put(second);
            }
            throw firstNonFinite(x, specs.get(0).axis());
        }
        float amax = Float.intBitsToFloat(amaxBits);
        ScaledCast cast0 = new ScaledCast(Float8Tensor.ofReusable(first, new float[] {scale0}, specs.get(0), x.dtype(),
                x.shape()), amax);
        return !two ? new ScaledCast[] {cast0} : new ScaledCast[] {cast0, new ScaledCast(Float8Tensor.ofReusable(second,
                new float[] {scale1}, specs.get(1), x.dtype(), x.shape()), amax)};
    }

    private void run(Tensor x, List<Target> targets, int reportedAxis) {
        int rows = x.rows();
        int cols = x.cols();
        // Rows are processed in groups that hold whole blocks of every target whose blocks are shorter
        // than the tensor (1, 32 or 128 rows: each divides the next), so a group is read from memory once
        // and again from cache. Targets with one block over all rows (tensorwise, rowwise along axis 0)
        // need their amax over the whole tensor first: one extra sweep, which nothing can avoid.
        int group = 1;
        List<Target> global = new ArrayList<>();
        for (Target t : targets) {
            if (t.wholeColumnBlocks) {
                global.add(t);
            } else {
                group = Math.max(group, t.blockRows);
            }
        }
        // Threads take chunks of whole groups from a shared counter, so one that starts late or is
        // descheduled takes fewer of them. The calling thread first allocates the code arrays (4 MiB at
        // 2048x2048, a serial memset), meanwhile the others read ahead.
        int chunkRows = Math.max(group, CHUNK_ROWS / group * group);
        int chunks = (rows + chunkRows - 1) / chunkRows;
        int parts = (long) rows * cols < PARALLEL_THRESHOLD ? 1 : Math.max(1, Math.min(threads.count(), chunks));
        Chunks work = new Chunks(x, targets, chunkRows, chunks);
        if (!global.isEmpty()) {
            int[][][] privateGrids = new int[parts][global.size()][];
            AtomicInteger next = new AtomicInteger();
            threads.forEach(parts, p -> {
                if (p == 0) {
                    work.allocateCodes();
                }
                float[] rowBuffer = x.dtype() == DType.BF16 ? new float[cols] : null;
                for (int i = 0; i < global.size(); i++) {
                    privateGrids[p][i] = parts == 1 ? global.get(i).amaxBits : new int[global.get(i).amaxBits.length];
                }
                for (int k; (k = next.getAndIncrement()) < chunks; ) {
                    for (int r = k * chunkRows; r < Math.min(rows, (k + 1) * chunkRows); r++) {
                        float[] src = rowSource(x, r, rowBuffer);
                        int off = rowBuffer == null ? r * cols : 0;
                        for (int i = 0; i < global.size(); i++) {
                            accumulateAmax(global.get(i), privateGrids[p][i], src, off, r);
                        }
                    }
                }
            });
            for (int i = 0; i < global.size(); i++) {
                Target t = global.get(i);
                for (int p = 0; p < parts && parts > 1; p++) {
                    for (int g = 0; g < t.amaxBits.length; g++) {
                        t.amaxBits[g] = Math.max(t.amaxBits[g], privateGrids[p][i][g]);
                    }
                }
                if (finishScales(t, 0, t.amaxBits.length)) {
                    throw firstNonFinite(x, reportedAxis);
                }
            }
        }
        boolean[] nonFinite = new boolean[parts];
        threads.forEach(parts, p -> {
            if (p == 0) {
                work.allocateCodes();
            }
            // A local flag, stored once at the end: the threads' flags share a cache line.
            nonFinite[p] = work.encode();
        });
        for (boolean bad : nonFinite) {
            if (bad) {
                throw firstNonFinite(x, reportedAxis);
            }
        }
    }

    /** The chunks of one call, handed out to the threads, and the state of the code arrays. */
    private static final class Chunks {
        private static final int PENDING = 0;
        private static final int READY = 1;
        private static final int FAILED = 2;

        private final Tensor x;
        private final List<Target> targets;
        private final int chunkRows;
        private final int chunks;
        private final AtomicInteger next = new AtomicInteger();
        private volatile int codes = PENDING;

        Chunks(Tensor x, List<Target> targets, int chunkRows, int chunks) {
            this.x = x;
            this.targets = targets;
            this.chunkRows = chunkRows;
            this.chunks = chunks;
        }

        void allocateCodes() {
            if (codes != PENDING) {
                return;
            }
            try {
                for (Target t : targets) {
                    t.allocateCodes();
                }
                codes = READY;
            } catch (RuntimeException | Error e) {
                codes = FAILED; // the other threads stop waiting; forEach rethrows e
                throw e;
            }
        }

        /** Encodes chunks until none is left; true if a block saw NaN or Inf (the caller then throws). */
        boolean encode() {
            int cols = x.cols();
            float[] bufferA = x.dtype() == DType.BF16 ? new float[cols] : null;
            float[] bufferB = x.dtype() == DType.BF16 ? new float[cols] : null;
            // While the code arrays are being allocated: the amax and scales of whole chunks, encoded later.
            int[] early = new int[chunks];
            int earlyCount = 0;
            while (codes == PENDING) {
                int k = next.getAndIncrement();
                if (k >= chunks) {
                    break;
                }
                readAmax(k, bufferB);
                if (finishChunkScales(k)) {
                    return true;
                }
                early[earlyCount++] = k;
            }
            if (earlyCount > 0) {
                while (codes == PENDING) {
                    Thread.onSpinWait();
                }
            }
            if (codes == FAILED) {
                return false;
            }
            for (int i = 0; i < earlyCount; i++) {
                encodeChunk(early[i], bufferA, -1, bufferB);
            }
            // Software pipelining: the codes of one chunk are written in the same loop that reads the next
            // chunk for its amax, so the reads from memory overlap the encoder's arithmetic (a separate
            // amax pass leaves the core waiting on memory, then the encoder leaves memory idle).
            int current = next.getAndIncrement();
            if (current < chunks) {
                readAmax(current, bufferB);
            }
            while (current < chunks) {
                if (finishChunkScales(current)) {
                    return true;
                }
                int following = next.getAndIncrement();
                encodeChunk(current, bufferA, following < chunks ? following : -1, bufferB);
                current = following;
            }
            return false;
        }

        private void readAmax(int k, float[] buffer) {
            int cols = x.cols();
            for (int r = k * chunkRows; r < Math.min(x.rows(), (k + 1) * chunkRows); r++) {
                float[] src = rowSource(x, r, buffer);
                int off = buffer == null ? r * cols : 0;
                for (Target t : targets) {
                    if (!t.wholeColumnBlocks) {
                        accumulateAmax(t, t.amaxBits, src, off, r);
                    }
                }
            }
        }

        private boolean finishChunkScales(int k) {
            int r0 = k * chunkRows;
            int r1 = Math.min(x.rows(), r0 + chunkRows);
            boolean nonFinite = false;
            for (Target t : targets) {
                if (!t.wholeColumnBlocks) {
                    nonFinite |= finishScales(t, (r0 / t.blockRows) * t.scaleCols, ((r1 - 1) / t.blockRows + 1) * t.scaleCols);
                }
            }
            return nonFinite;
        }

        /** Writes the codes of chunk k and, if ahead is not -1, reads chunk ahead for its amax in the same loop. */
        private void encodeChunk(int k, float[] bufferA, int ahead, float[] bufferB) {
            int rows = x.rows();
            int cols = x.cols();
            int r0 = k * chunkRows;
            int r1 = Math.min(rows, r0 + chunkRows);
            int aheadEnd = ahead < 0 ? 0 : Math.min(rows, (ahead + 1) * chunkRows);
            for (int r = r0; r < r1; r++) {
                float[] src = rowSource(x, r, bufferA);
                int off = bufferA == null ? r * cols : 0;
                int rAhead = ahead * chunkRows + (r - r0);
                if (ahead >= 0 && rAhead < aheadEnd) {
                    float[] srcAhead = rowSource(x, rAhead, bufferB);
                    int offAhead = bufferB == null ? rAhead * cols : 0;
                    for (Target t : targets) {
                        encodeRow(t, src, off, r, t.wholeColumnBlocks ? null : srcAhead, offAhead, rAhead);
                    }
                } else {
                    for (Target t : targets) {
                        encodeRow(t, src, off, r, null, 0, 0);
                    }
                }
            }
        }
    }

    /**
     * Turns amax grid entries [from, to) into scales; true if one of them saw NaN or Inf. MX has a scale
     * per 32 elements, so this runs vectorized (a scalar {@link Scales#scale} per block cost MX about a
     * third of its time): the division is IEEE float division as in {@link Scales#scale}, and the scale of
     * a finite amax is a normal float (between fmax / Float.MAX_VALUE and fmax / 1e-12), which rounds down
     * to a power of two by clearing its mantissa, then rises to {@link Scales#minScale} (which only a
     * power-of-two scale of an amax near Float.MAX_VALUE is below). A non-finite amax gets a meaningless scale,
     * but the caller then throws.
     */
    private static boolean finishScales(Target t, int from, int to) {
        boolean nonFinite = false;
        float fmax = t.spec.format().max();
        int keep = t.spec.powerOfTwoScales() ? 0xFF80_0000 : -1;
        float minScale = Scales.minScale(t.spec.format(), t.spec.powerOfTwoScales());
        int g = from;
        for (; g <= to - LANES; g += LANES) {
            IntVector bits = IntVector.fromArray(INTS, t.amaxBits, g);
            nonFinite |= bits.compare(VectorOperators.GE, NON_FINITE_BITS).anyTrue();
            FloatVector.broadcast(FLOATS, fmax).div(bits.reinterpretAsFloats().max(Scales.EPS))
                    .reinterpretAsInts().and(keep).reinterpretAsFloats().max(minScale).intoArray(t.scales, g);
        }
        for (; g < to; g++) {
            int bits = t.amaxBits[g];
            if (bits >= NON_FINITE_BITS) {
                nonFinite = true;
                t.scales[g] = 1f;
            } else {
                t.scales[g] = Scales.scale(Float.intBitsToFloat(bits), t.spec.format(), t.spec.powerOfTwoScales());
            }
        }
        return nonFinite;
    }

    /** The row's floats: the F32 backing array itself, or the BF16 row widened into buffer. */
    private static float[] rowSource(Tensor x, int r, float[] buffer) {
        if (buffer == null) {
            return x.data();
        }
        short[] bits = x.bf16Data();
        int cols = buffer.length;
        int base = r * cols;
        int c = 0;
        for (; c <= cols - LANES; c += LANES) {
            Fp8Vectors.loadBf16(bits, base + c).intoArray(buffer, c);
        }
        for (; c < cols; c++) {
            buffer[c] = Float.intBitsToFloat(bits[base + c] << 16);
        }
        return buffer;
    }

    private static void accumulateAmax(Target t, int[] grid, float[] src, int off, int r) {
        int cols = t.cols;
        int gridRow = (r / t.blockRows) * t.scaleCols;
        if (t.blockCols == 1) {
            // One block per column: the grid row lines up with the data row.
            int c = 0;
            for (; c <= cols - LANES; c += LANES) {
                IntVector v = FloatVector.fromArray(FLOATS, src, off + c).reinterpretAsInts().and(0x7FFF_FFFF);
                IntVector.fromArray(INTS, grid, gridRow + c).max(v).intoArray(grid, gridRow + c);
            }
            for (; c < cols; c++) {
                grid[gridRow + c] = Math.max(grid[gridRow + c], Float.floatToRawIntBits(src[off + c]) & 0x7FFF_FFFF);
            }
            return;
        }
        for (int bc = 0; bc < t.scaleCols; bc++) {
            int c0 = bc * t.blockCols;
            int c1 = Math.min(cols, c0 + t.blockCols);
            IntVector acc = IntVector.zero(INTS);
            int c = c0;
            for (; c <= c1 - LANES; c += LANES) {
                acc = acc.max(FloatVector.fromArray(FLOATS, src, off + c).reinterpretAsInts().and(0x7FFF_FFFF));
            }
            int m = acc.reduceLanes(VectorOperators.MAX);
            for (; c < c1; c++) {
                m = Math.max(m, Float.floatToRawIntBits(src[off + c]) & 0x7FFF_FFFF);
            }
            grid[gridRow + bc] = Math.max(grid[gridRow + bc], m);
        }
    }

    /**
     * Writes the codes of row r and, when ahead is not null, folds row rAhead (a row of the next group) into
     * the amax grid in the same loop.
     */
    private static void encodeRow(Target t, float[] src, int off, int r, float[] ahead, int offAhead, int rAhead) {
        if (ahead == null) {
            encodeRow(t, src, off, r);
            return;
        }
        int cols = t.cols;
        int out = r * cols;
        int gridRow = (r / t.blockRows) * t.scaleCols;
        int gridRowAhead = (rAhead / t.blockRows) * t.scaleCols;
        Fp8Vectors.Codec codec = t.codec;
        int[] grid = t.amaxBits;
        if (t.blockCols == 1) {
            int c = 0;
            for (; c <= cols - LANES; c += LANES) {
                FloatVector v = FloatVector.fromArray(FLOATS, src, off + c)
                        .mul(FloatVector.fromArray(FLOATS, t.scales, gridRow + c));
                codec.encodeInto(v, t.codes, out + c);
                IntVector a = FloatVector.fromArray(FLOATS, ahead, offAhead + c).reinterpretAsInts().and(0x7FFF_FFFF);
                IntVector.fromArray(INTS, grid, gridRowAhead + c).max(a).intoArray(grid, gridRowAhead + c);
            }
            for (; c < cols; c++) {
                t.codes[out + c] = t.spec.format().encodeSaturating(src[off + c] * t.scales[gridRow + c]);
                grid[gridRowAhead + c] = Math.max(grid[gridRowAhead + c],
                        Float.floatToRawIntBits(ahead[offAhead + c]) & 0x7FFF_FFFF);
            }
            return;
        }
        for (int bc = 0; bc < t.scaleCols; bc++) {
            int c0 = bc * t.blockCols;
            int c1 = Math.min(cols, c0 + t.blockCols);
            float scale = t.scales[gridRow + bc];
            IntVector acc = IntVector.zero(INTS);
            int c = c0;
            for (; c <= c1 - LANES; c += LANES) {
                codec.encodeInto(FloatVector.fromArray(FLOATS, src, off + c).mul(scale), t.codes, out + c);
                acc = acc.max(FloatVector.fromArray(FLOATS, ahead, offAhead + c).reinterpretAsInts().and(0x7FFF_FFFF));
            }
            int m = acc.reduceLanes(VectorOperators.MAX);
            for (; c < c1; c++) {
                t.codes[out + c] = t.spec.format().encodeSaturating(src[off + c] * scale);
                m = Math.max(m, Float.floatToRawIntBits(ahead[offAhead + c]) & 0x7FFF_FFFF);
            }
            grid[gridRowAhead + bc] = Math.max(grid[gridRowAhead + bc], m);
        }
    }

    private static void encodeRow(Target t, float[] src, int off, int r) {
        int cols = t.cols;
        int out = r * cols;
        int gridRow = (r / t.blockRows) * t.scaleCols;
        Fp8Vectors.Codec codec = t.codec;
        if (t.blockCols == 1) {
            int c = 0;
            for (; c <= cols - LANES; c += LANES) {
                FloatVector v = FloatVector.fromArray(FLOATS, src, off + c)
                        .mul(FloatVector.fromArray(FLOATS, t.scales, gridRow + c));
                codec.encodeInto(v, t.codes, out + c);
            }
            for (; c < cols; c++) {
                t.codes[out + c] = t.spec.format().encodeSaturating(src[off + c] * t.scales[gridRow + c]);
            }
            return;
        }
        for (int bc = 0; bc < t.scaleCols; bc++) {
            int c0 = bc * t.blockCols;
            int c1 = Math.min(cols, c0 + t.blockCols);
            float scale = t.scales[gridRow + bc];
            int c = c0;
            for (; c <= c1 - LANES; c += LANES) {
                codec.encodeInto(FloatVector.fromArray(FLOATS, src, off + c).mul(scale), t.codes, out + c);
            }
            for (; c < c1; c++) {
                t.codes[out + c] = t.spec.format().encodeSaturating(src[off + c] * scale);
            }
        }
    }

    private static NonFiniteException firstNonFinite(Tensor x, int axis) {
        for (int r = 0; r < x.rows(); r++) {
            for (int c = 0; c < x.cols(); c++) {
                float v = x.get(r, c);
                if (!Float.isFinite(v)) {
                    return new NonFiniteException(x + " along axis " + axis, r, c, v);
                }
            }
        }
        throw new IllegalStateException("amax saw a non-finite value that a rescan of " + x + " cannot find");
    }

    /** decode(code) / scale for every element, vectorized like the encoder. */
    Tensor dequantize(Float8Tensor q) {
        int rows = q.rows();
        int cols = q.cols();
        float[] out = pool.floats(rows * cols); // every element is overwritten
        Fp8Vectors.Codec codec = new Fp8Vectors.Codec(q.format());
        byte[] codes = q.codes();
        float[] scales = q.scalesForBackend();
        int blockRows = q.blockRows();
        int blockCols = q.blockCols();
        int scaleCols = q.scaleCols();
        int parts = (long) rows * cols < PARALLEL_THRESHOLD ? 1 : Math.min(threads.count(), rows);
        threads.forEach(parts, p -> {
            int r0 = (int) ((long) rows * p / parts);
            int r1 = (int) ((long) rows * (p + 1) / parts);
            for (int r = r0; r < r1; r++) {
                int base = r * cols;
                int gridRow = (r / blockRows) * scaleCols;
                int c = 0;
                for (; c <= cols - LANES; c += LANES) {
                    FloatVector scale = blockCols == 1 ? FloatVector.fromArray(FLOATS, scales, gridRow + c)
                            : FloatVector.broadcast(FLOATS, scales[gridRow + c / blockCols]);
                    if (blockCols > 1 && (c % blockCols) + LANES > blockCols) {
                        break; // a vector straddling two blocks: finish the row one element at a time
                    }
                    codec.decode(codes, base + c).div(scale).intoArray(out, base + c);
                }
                for (; c < cols; c++) {
                    out[base + c] = q.format().decode(codes[base + c]) / scales[gridRow + c / blockCols];
                }
            }
        });
        return Tensor.ofReusable(out, q.shape());
    }
}
