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
        final float[] tile = new float[MR * NR];
        float[] columnScales = new float[0];

        float[] columnScales(int n) {
            if (columnScales.length < n) {
                columnScales = new float[n];
            }
            return columnScales;
        }
    }

    /**
     * Multiplies a (m x depth) by b (n x depth). Scales the operands carry apply per K chunk when a chunk
     * is shorter than K, else once at the end.
     */
    static float[] multiply(GemmOperand a, GemmOperand b, CpuThreads threads) {
        return multiply(a, b, null, threads);
    }

    /**
     * As {@link #multiply(GemmOperand, GemmOperand, CpuThreads)}, then {@code C[i][j] += bias[j]} (bias null: none)
     * by the thread that wrote C's block, while the block is still in its cache: the F32 sum, scaled, plus the bias.
     */
    static float[] multiply(GemmOperand a, GemmOperand b, float[] bias, CpuThreads threads) {
        boolean scaled = a.carriesScales() || b.carriesScales();
        int m = a.free;
        int n = b.free;
        int depth = a.depth;
        int chunk = Math.min(a.chunkAlongK(), b.chunkAlongK());
        boolean chunked = scaled && chunk < depth;
        if (chunked && (chunk < MIN_CHUNK || KC % chunk != 0)) {
            throw new IllegalStateException("K chunk " + chunk + " does not divide the packing depth " + KC);
        }
        float[] c = new float[m * n];
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
            multiplyBlock(a, b, c, n, m0, m1, n0, n1, chunked ? chunk : KC, chunked, ws);
            if (scaled && !chunked) {
                scaleOnce(a, b, c, n, m0, m1, n0, n1, ws);
            }
            if (bias != null) {
                addBias(bias, c, n, m0, m1, n0, n1);
            }
        });
        return c;
    }

    private static void multiplyBlock(GemmOperand a, GemmOperand b, float[] c, int ldc, int m0, int m1, int n0,
            int n1, int segment, boolean chunked, Workspace ws) {
        int depth = a.depth;
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0; pc < depth; pc += KC) {
                int kc = Math.min(KC, depth - pc);
                int segments = (kc + segment - 1) / segment;
                for (int jp = 0; jp < nc; jp += NR) {
                    int panel = jp / NR;
                    b.pack(jc + jp, NR, pc, kc, ws.b, panel * NR * KC);
                    if (chunked) {
                        packScales(b, jc + jp, NR, pc, segments, segment, ws.bScales, panel * NR * MAX_SEGMENTS);
                    }
                }
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    for (int ip = 0; ip < mc; ip += MR) {
                        int panel = ip / MR;
                        a.pack(ic + ip, MR, pc, kc, ws.a, panel * MR * KC);
                        if (chunked) {
                            packScales(a, ic + ip, MR, pc, segments, segment, ws.aScales,
                                    panel * MR * MAX_SEGMENTS);
                        }
                    }
                    for (int jp = 0; jp < nc; jp += NR) {
                        int bPanel = jp / NR;
                        int columns = Math.min(NR, nc - jp);
                        for (int ip = 0; ip < mc; ip += MR) {
                            int aPanel = ip / MR;
                            int rows = Math.min(MR, mc - ip);
                            float[] sa = chunked ? ws.aScales : null;
                            int cOff = (ic + ip) * ldc + jc + jp;
                            if (rows == MR && columns == NR) {
                                Microkernel.run(ws.a, aPanel * MR * KC, ws.b, bPanel * NR * KC, kc, segment, sa,
                                        aPanel * MR * MAX_SEGMENTS, ws.bScales, bPanel * NR * MAX_SEGMENTS, c, cOff,
                                        ldc);
                            } else {
                                edgeTile(ws, c, cOff, ldc, rows, columns, kc, segment, sa, aPanel, bPanel);
                            }
                        }
                    }
                }
            }
        }
    }

    /** A partial tile at the bottom or right edge: run the kernel on a full-size copy and write back the valid part. */
    private static void edgeTile(Workspace ws, float[] c, int cOff, int ldc, int rows, int columns, int kc,
            int segment, float[] sa, int aPanel, int bPanel) {
        float[] tile = ws.tile;
        java.util.Arrays.fill(tile, 0f);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(c, cOff + r * ldc, tile, r * NR, columns);
        }
        Microkernel.run(ws.a, aPanel * MR * KC, ws.b, bPanel * NR * KC, kc, segment, sa, aPanel * MR * MAX_SEGMENTS,
                ws.bScales, bPanel * NR * MAX_SEGMENTS, tile, 0, NR);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(tile, r * NR, c, cOff + r * ldc, columns);
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

    /** C[i][j] += bias[j] over one thread's block of rows m0..m1 and columns n0..n1. */
    private static void addBias(float[] bias, float[] c, int ldc, int m0, int m1, int n0, int n1) {
        int vectorEnd = n0 + (n1 - n0) / LANES * LANES;
        for (int i = m0; i < m1; i++) {
            int row = i * ldc;
            int j = n0;
            for (; j < vectorEnd; j += LANES) {
                FloatVector.fromArray(SPECIES, c, row + j).add(FloatVector.fromArray(SPECIES, bias, j))
                        .intoArray(c, row + j);
            }
            for (; j < n1; j++) {
                c[row + j] += bias[j];
            }
        }
    }

    /** Tensorwise and rowwise scales (constant over all of K): C[i][j] *= (1/sa_i) * (1/sb_j), once. */
    private static void scaleOnce(GemmOperand a, GemmOperand b, float[] c, int ldc, int m0, int m1, int n0, int n1,
            Workspace ws) {
        float[] inverseB = ws.columnScales(n1);
        for (int j = n0; j < n1; j++) {
            inverseB[j] = b.inverseScale(j, 0);
        }
        int vectorEnd = n0 + (n1 - n0) / LANES * LANES;
        for (int i = m0; i < m1; i++) {
            float inverseA = a.inverseScale(i, 0);
            int row = i * ldc;
            int j = n0;
            for (; j < vectorEnd; j += LANES) {
                FloatVector s = FloatVector.fromArray(SPECIES, inverseB, j).mul(inverseA);
                FloatVector.fromArray(SPECIES, c, row + j).mul(s).intoArray(c, row + j);
            }
            for (; j < n1; j++) {
                c[row + j] *= inverseA * inverseB[j];
            }
        }
    }
}
