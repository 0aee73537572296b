package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.Microkernel.LANES;
import static dev.float8j.runtime.cpu.Microkernel.MR;
import static dev.float8j.runtime.cpu.Microkernel.NR;
import static dev.float8j.runtime.cpu.Microkernel.SPECIES;

import jdk.incubator.vector.FloatVector;

/**
 * The blocked, packed, multi-threaded gemm {@code C[i][j] = sum_k A(i,k) * B(j,k)} shared by the FP8
 * and the high-precision paths. Loops (outermost first): the output split between threads; NC columns
 * of B; KC steps of K, packing a KC x NC block of B; MC rows of A, packing an MC x KC block of A; then
 * micro-tiles of {@link Microkernel#MR} x {@link Microkernel#NR}. Packed blocks hold float32, so FP8 and
 * BF16 are decoded once per packed element; the buffers belong to the thread and are reused.
 */
final class GemmEngine {
    static final int KC = 256;
    static final int MC = 32 * MR;
    static final int NC = 2048;
    /** Floats in one micro-tile of C. */
    private static final int TILE = MR * NR;
    /**
     * The most tile accumulators a thread keeps (16 MiB): a band of rows is sized to fit. 2048 rows of a 2048-column
     * block fit; larger blocks are done in bands, each repacking its B block once.
     */
    static final int ACCUMULATOR_FLOATS = 4 << 20;
    /** The shortest K segment that can carry its own scales (MX's 32); KC is a multiple of it. */
    private static final int MIN_CHUNK = 32;
    private static final int MAX_SEGMENTS = KC / MIN_CHUNK;
    /** Below this many multiply-adds a single thread is faster than handing out work. */
    private static final long PARALLEL_THRESHOLD = 1L << 21;

    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private GemmEngine() {
    }

    /** Per-thread packing buffers, allocated once per thread. */
    private static final class Workspace {
        final float[] a = new float[MC * KC];
        final float[] b = new float[KC * NC];
        final float[] aScales = new float[MC * MAX_SEGMENTS];
        final float[] bScales = new float[NC * MAX_SEGMENTS];
        float[] accumulators = new float[0];
        float[] rowScales = new float[0];
        float[] columnScales = new float[0];

        /** Tile accumulators, grown to floats (never more than the cap a band is sized to) and kept. */
        float[] accumulators(int floats) {
            if (accumulators.length < floats) {
                accumulators = new float[floats];
            }
            return accumulators;
        }

        float[] rowScales(int m) {
            if (rowScales.length < m) {
                rowScales = new float[m];
            }
            return rowScales;
        }

        float[] columnScales(int n) {
            if (columnScales.length < n) {
                columnScales = new float[n];
            }
            return columnScales;
        }
    }

    /**
     * C = a (m x depth) times b (n x depth), into c (m x n, row-major), then {@code C[i][j] += bias[j]} (bias null:
     * none). Scales the operands carry apply per K chunk when a chunk is shorter than K, else once at the end; scales
     * and bias are applied as each tile of C is written (the F32 sum, scaled, plus the bias). Every element of c is
     * written once, from the tile's accumulators (tensors have no empty dimension), so c's contents do not matter: a
     * pooled array needs no zeroing.
     */
    static void multiply(GemmOperand a, GemmOperand b, float[] bias, CpuThreads threads, float[] c) {
        multiply(a, b, bias, threads, ACCUMULATOR_FLOATS, c);
    }

    /** As above into a new array, with at most accumulatorFloats floats of tile accumulators per thread (tests). */
    static float[] multiply(GemmOperand a, GemmOperand b, float[] bias, CpuThreads threads, int accumulatorFloats) {
        float[] c = new float[a.free * b.free];
        multiply(a, b, bias, threads, accumulatorFloats, c);
        return c;
    }

    private static void multiply(GemmOperand a, GemmOperand b, float[] bias, CpuThreads threads, int accumulatorFloats,
            float[] c) {
        boolean scaled = a.carriesScales() || b.carriesScales();
        int m = a.free;
        int n = b.free;
        int depth = a.depth;
        int chunk = Math.min(a.chunkAlongK(), b.chunkAlongK());
        boolean chunked = scaled && chunk < depth;
        if (chunked && (chunk < MIN_CHUNK || KC % chunk != 0)) {
            throw new IllegalStateException("K chunk " + chunk + " does not divide the packing depth " + KC);
        }
        if (c.length != m * n) {
            throw new IllegalArgumentException("a result array of " + c.length + " elements for " + m + " x " + n);
        }
        int tasks = (long) m * n * depth < PARALLEL_THRESHOLD ? 1 : threads.count();
        boolean splitColumns = n >= m;
        int unit = splitColumns ? NR : MR;
        int extent = splitColumns ? n : m;
        int units = (extent + unit - 1) / unit;
        int parts = Math.min(tasks, units);
        threads.forEach(parts, t -> {
            int lo = Math.min(extent, (int) ((long) units * t / parts) * unit);
            int hi = Math.min(extent, (int) ((long) units * (t + 1) / parts) * unit);
            if (lo >= hi) {
                return;
            }
            int m0 = splitColumns ? 0 : lo;
            int m1 = splitColumns ? m : hi;
            int n0 = splitColumns ? lo : 0;
            int n1 = splitColumns ? hi : n;
            Workspace ws = WORKSPACE.get();
            Output out = new Output(c, n, bias);
            if (scaled && !chunked) {
                out.inverseA = ws.rowScales(m1);
                out.inverseB = ws.columnScales(n1);
                for (int i = m0; i < m1; i++) {
                    out.inverseA[i] = a.inverseScale(i, 0);
                }
                for (int j = n0; j < n1; j++) {
                    out.inverseB[j] = b.inverseScale(j, 0);
                }
            }
            multiplyBlock(a, b, out, m0, m1, n0, n1, chunked ? chunk : KC, chunked, accumulatorFloats, ws);
        });
    }

    /**
     * Where finished tiles go: C (row-major, leading dimension ldc), scaled by inverseA[i] * inverseB[j] when the
     * scales apply once (tensorwise, rowwise; null otherwise), plus bias[j] (null: none).
     */
    private static final class Output {
        final float[] c;
        final int ldc;
        final float[] bias;
        float[] inverseA;
        float[] inverseB;

        Output(float[] c, int ldc, float[] bias) {
            this.c = c;
            this.ldc = ldc;
            this.bias = bias;
        }
    }

    /**
     * One thread's block of C, rows m0..m1 and columns n0..n1. The sums are kept in a private buffer of whole tiles,
     * each tile's MR x NR floats contiguous and the tiles in the order the loops visit them, and each tile is written
     * to C once, after the last K block: C's own rows are ldc floats apart (8 KiB at N = 2048), so a tile read from
     * and written to C every K block took its rows from the same few L1 sets and, being strided, from memory without
     * the hardware prefetcher's help; the buffer is one sequential stream. Rows come in bands whose buffer fits
     * accumulatorFloats; B is packed once per band.
     */
    private static void multiplyBlock(GemmOperand a, GemmOperand b, Output out, int m0, int m1, int n0, int n1,
            int segment, boolean chunked, int accumulatorFloats, Workspace ws) {
        int depth = a.depth;
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            int bPanels = (nc + NR - 1) / NR;
            int bandRows = bandRows(m1 - m0, bPanels, accumulatorFloats);
            for (int mb = m0; mb < m1; mb += bandRows) {
                int mbEnd = Math.min(m1, mb + bandRows);
                float[] acc = ws.accumulators((mbEnd - mb + MR - 1) / MR * bPanels * TILE);
                for (int pc = 0; pc < depth; pc += KC) {
                    int kc = Math.min(KC, depth - pc);
                    boolean first = pc == 0;
                    boolean last = pc + kc >= depth;
                    int segments = (kc + segment - 1) / segment;
                    for (int jp = 0; jp < nc; jp += NR) {
                        int panel = jp / NR;
                        b.pack(jc + jp, NR, pc, kc, ws.b, panel * NR * KC);
                        if (chunked) {
                            packScales(b, jc + jp, NR, pc, segments, segment, ws.bScales, panel * NR * MAX_SEGMENTS);
                        }
                    }
                    for (int ic = mb; ic < mbEnd; ic += MC) {
                        int mc = Math.min(MC, mbEnd - ic);
                        int aPanels = (mc + MR - 1) / MR;
                        for (int ip = 0; ip < mc; ip += MR) {
                            int panel = ip / MR;
                            a.pack(ic + ip, MR, pc, kc, ws.a, panel * MR * KC);
                            if (chunked) {
                                packScales(a, ic + ip, MR, pc, segments, segment, ws.aScales,
                                        panel * MR * MAX_SEGMENTS);
                            }
                        }
                        // Every block but a band's last has MC / MR row tiles, so this block's tiles start here.
                        int blockTiles = (ic - mb) / MR * bPanels;
                        float[] sa = chunked ? ws.aScales : null;
                        for (int bPanel = 0; bPanel < bPanels; bPanel++) {
                            for (int aPanel = 0; aPanel < aPanels; aPanel++) {
                                int tile = (blockTiles + bPanel * aPanels + aPanel) * TILE;
                                if (first) {
                                    java.util.Arrays.fill(acc, tile, tile + TILE, 0f);
                                }
                                Microkernel.run(ws.a, aPanel * MR * KC, ws.b, bPanel * NR * KC, kc, segment, sa,
                                        aPanel * MR * MAX_SEGMENTS, ws.bScales, bPanel * NR * MAX_SEGMENTS, acc, tile,
                                        NR);
                                if (last) {
                                    int i0 = ic + aPanel * MR;
                                    int j0 = jc + bPanel * NR;
                                    writeTile(acc, tile, out, i0, j0, Math.min(MR, m1 - i0), Math.min(NR, n1 - j0));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Rows per band: as many whole MC blocks as fit accumulatorFloats (at least one), spread evenly over the bands
     * the rows need, so that the last band is not a sliver that repacks B for a few rows.
     */
    private static int bandRows(int rows, int bPanels, int accumulatorFloats) {
        int blockFloats = MC * NR * bPanels;
        int maxRows = Math.max(1, accumulatorFloats / blockFloats) * MC;
        int bands = (rows + maxRows - 1) / maxRows;
        int perBand = (rows + bands - 1) / bands;
        return (perBand + MC - 1) / MC * MC;
    }

    /**
     * Writes the valid rows x columns of a finished tile to C at (i0, j0): the sum, times inverseA[i] * inverseB[j]
     * where the scales apply once, plus bias[j] where there is one.
     */
    private static void writeTile(float[] acc, int tile, Output out, int i0, int j0, int rows, int columns) {
        float[] c = out.c;
        float[] inverseA = out.inverseA;
        float[] inverseB = out.inverseB;
        float[] bias = out.bias;
        for (int r = 0; r < rows; r++) {
            int src = tile + r * NR;
            int dst = (i0 + r) * out.ldc + j0;
            int j = 0;
            if (columns == NR) {
                for (; j < NR; j += LANES) {
                    FloatVector v = FloatVector.fromArray(SPECIES, acc, src + j);
                    if (inverseA != null) {
                        v = v.mul(FloatVector.fromArray(SPECIES, inverseB, j0 + j).mul(inverseA[i0 + r]));
                    }
                    if (bias != null) {
                        v = v.add(FloatVector.fromArray(SPECIES, bias, j0 + j));
                    }
                    v.intoArray(c, dst + j);
                }
            }
            for (; j < columns; j++) {
                float v = acc[src + j];
                if (inverseA != null) {
                    v *= inverseB[j0 + j] * inverseA[i0 + r];
                }
                if (bias != null) {
                    v += bias[j0 + j];
                }
                c[dst + j] = v;
            }
        }
    }

    /** Inverse scales of each K segment of one panel, segment-major; zero for padding past the free edge. */
    private static void packScales(GemmOperand x, int i0, int width, int k0, int segments, int segment, float[] dst,
            int dstOff) {
        int valid = Math.min(width, x.free - i0);
        for (int s = 0; s < segments; s++) {
            int k = k0 + s * segment;
            for (int w = 0; w < width; w++) {
                dst[dstOff + s * width + w] = w < valid ? x.inverseScale(i0 + w, k) : 0f;
            }
        }
    }
}
