package dev.float8j.runtime.cpu;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import jdk.incubator.vector.FloatVector;

/**
 * One gemm operand seen as the logical matrix {@code X(i, k)} (i the free index, k the contracted one),
 * read in the layout it already has: axis 1 means {@code X(i, k) = data[i * cols + k]} (K contiguous),
 * axis 0 means {@code X(i, k) = data[k * cols + i]} (K strided). It packs panels of float32 for the
 * microkernel, decoding FP8 or BF16 exactly once per packed element.
 */
abstract class GemmOperand {
    final int axis;
    final int cols;
    final int free;
    final int depth;

    GemmOperand(int rows, int cols, int axis) {
        if (axis != 0 && axis != 1) {
            throw new IllegalArgumentException("axis must be 0 or 1, got " + axis);
        }
        this.axis = axis;
        this.cols = cols;
        this.free = axis == 1 ? rows : cols;
        this.depth = axis == 1 ? cols : rows;
    }

    static GemmOperand of(Tensor t, int axis) {
        return t.dtype() == DType.F32 ? new F32(t.data(), t.rows(), t.cols(), axis)
                : new Bf16(t.bf16Data(), t.rows(), t.cols(), axis);
    }

    static GemmOperand of(Float8Tensor q) {
        return new Fp8(q);
    }

    /**
     * Packs X(i0 .. i0+width-1, k0 .. k0+kc-1) as kc rows of width floats (k-major), zero past the free edge.
     */
    final void pack(int i0, int width, int k0, int kc, float[] dst, int dstOff) {
        int valid = Math.min(width, free - i0);
        if (axis == 1) {
            packKContiguous(i0, valid, width, k0, kc, dst, dstOff);
        } else {
            packKStrided(i0, valid, width, k0, kc, dst, dstOff);
        }
        if (valid < width) {
            for (int k = 0; k < kc; k++) {
                for (int w = valid; w < width; w++) {
                    dst[dstOff + k * width + w] = 0f;
                }
            }
        }
    }

    /** Element (i, k) lies at data[i * cols + k]: read rows, write them across the panel. */
    abstract void packKContiguous(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff);

    /** Element (i, k) lies at data[k * cols + i]: each k holds a contiguous run of the free index. */
    abstract void packKStrided(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff);

    /** Scale extent along K (the whole depth for unscaled and tensorwise/rowwise operands). */
    int chunkAlongK() {
        return depth;
    }

    /** True if the gemm must apply this operand's scales (false for unscaled and for folded scales). */
    boolean carriesScales() {
        return false;
    }

    /** 1 / scale of the block holding X(i, k); 1 for unscaled operands. */
    float inverseScale(int i, int k) {
        return 1f;
    }

    private static final class F32 extends GemmOperand {
        private final float[] data;

        F32(float[] data, int rows, int cols, int axis) {
            super(rows, cols, axis);
            this.data = data;
        }

        @Override
        void packKContiguous(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            if (valid == width && PanelTranspose.APPLIES) {
                PanelTranspose.pack(data, i0 * cols + k0, cols, width, kc, dst, dstOff);
                return;
            }
            if (valid == width) {
                float[] rows = PanelGather.rows();
                for (int w = 0; w < width; w++) {
                    System.arraycopy(data, (i0 + w) * cols + k0, rows, w * PanelGather.STRIDE, kc);
                }
                PanelGather.pack(rows, width, kc, dst, dstOff);
                return;
            }
            for (int w = 0; w < valid; w++) {
                int src = (i0 + w) * cols + k0;
                for (int k = 0; k < kc; k++) {
                    dst[dstOff + k * width + w] = data[src + k];
                }
            }
        }

        @Override
        void packKStrided(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            for (int k = 0; k < kc; k++) {
                System.arraycopy(data, (k0 + k) * cols + i0, dst, dstOff + k * width, valid);
            }
        }
    }

    private static final class Bf16 extends GemmOperand {
        private final short[] data;

        Bf16(short[] data, int rows, int cols, int axis) {
            super(rows, cols, axis);
            this.data = data;
        }

        @Override
        void packKContiguous(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            for (int w = 0; w < valid; w++) {
                int src = (i0 + w) * cols + k0;
                for (int k = 0; k < kc; k++) {
                    dst[dstOff + k * width + w] = Float.intBitsToFloat(data[src + k] << 16);
                }
            }
        }

        @Override
        void packKStrided(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            for (int k = 0; k < kc; k++) {
                int src = (k0 + k) * cols + i0;
                int d = dstOff + k * width;
                for (int w = 0; w < valid; w++) {
                    dst[d + w] = Float.intBitsToFloat(data[src + w] << 16);
                }
            }
        }
    }

    /**
     * FP8 codes with their scales. Power-of-two scales (MX, or any spec with power-of-two scales) are folded
     * into the packed values: code / scale is then exact, so each product equals the reference's up to
     * where the scaling happens, the sum changes only in float32 rounding order, and the K chunk needs no
     * scaling step at all. Other scales are applied per K chunk by the kernel.
     */
    private static final class Fp8 extends GemmOperand {
        private final byte[] codes;
        private final Fp8Vectors.Codec codec;
        /** A folded scale is constant over each vector of K (the packed K range starts at a multiple of KC). */
        private final boolean scalePerVector;
        private final float[] table;
        /** 1 / scale for every block, in the layout of the scales. */
        private final float[] inverse;
        private final int blockRows;
        private final int blockCols;
        private final int scaleCols;
        private final boolean folded;
        private final int chunk;

        Fp8(Float8Tensor q) {
            super(q.rows(), q.cols(), q.axis());
            this.codes = q.codes();
            this.table = q.format().decodeTable();
            this.codec = new Fp8Vectors.Codec(q.format());
            float[] scales = q.scalesForBackend();
            this.inverse = new float[scales.length];
            for (int s = 0; s < scales.length; s++) {
                inverse[s] = 1f / scales[s];
            }
            this.blockRows = q.blockRows();
            this.blockCols = q.blockCols();
            this.scaleCols = q.scaleCols();
            this.folded = q.spec().powerOfTwoScales();
            this.chunk = folded ? depth : (axis == 1 ? blockCols : blockRows);
            this.scalePerVector = blockCols % Microkernel.LANES == 0 || blockCols >= cols;
        }

        /**
         * Full panels: each row's codes decoded LANES at a time (times its folded scale) into {@link PanelGather}'s
         * block, then transposed ({@link PanelTranspose}, 16-float vectors) or gathered into the panel; edge panels
         * and scales that change inside a vector go element by element.
         */
        @Override
        void packKContiguous(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            if (valid == width && (!folded || scalePerVector)) {
                float[] decoded = PanelGather.rows();
                int kVector = kc - kc % Microkernel.LANES;
                for (int w = 0; w < width; w++) {
                    int row = i0 + w;
                    int src = row * cols + k0;
                    int d = w * PanelGather.STRIDE;
                    int scaleRow = (row / blockRows) * scaleCols;
                    for (int k = 0; k < kVector; k += Microkernel.LANES) {
                        FloatVector v = codec.decode(codes, src + k);
                        if (folded) {
                            v = v.mul(inverse[scaleRow + (k0 + k) / blockCols]);
                        }
                        v.intoArray(decoded, d + k);
                    }
                    for (int k = kVector; k < kc; k++) {
                        float v = table[codes[src + k] & 0xFF];
                        decoded[d + k] = folded ? v * inverse[scaleRow + (k0 + k) / blockCols] : v;
                    }
                }
                if (PanelTranspose.APPLIES) {
                    PanelTranspose.pack(decoded, 0, PanelGather.STRIDE, width, kc, dst, dstOff);
                } else {
                    PanelGather.pack(decoded, width, kc, dst, dstOff);
                }
                return;
            }
            for (int w = 0; w < valid; w++) {
                int row = i0 + w;
                int src = row * cols + k0;
                if (!folded) {
                    for (int k = 0; k < kc; k++) {
                        dst[dstOff + k * width + w] = table[codes[src + k] & 0xFF];
                    }
                    continue;
                }
                int scaleRow = (row / blockRows) * scaleCols;
                for (int k = 0; k < kc;) {
                    int col = k0 + k;
                    int end = Math.min(kc, k + blockCols - col % blockCols);
                    float s = inverse[scaleRow + col / blockCols];
                    for (; k < end; k++) {
                        dst[dstOff + k * width + w] = table[codes[src + k] & 0xFF] * s;
                    }
                }
            }
        }

        @Override
        void packKStrided(int i0, int valid, int width, int k0, int kc, float[] dst, int dstOff) {
            for (int k = 0; k < kc; k++) {
                int src = (k0 + k) * cols + i0;
                int d = dstOff + k * width;
                if (!folded) {
                    for (int w = 0; w < valid; w++) {
                        dst[d + w] = table[codes[src + w] & 0xFF];
                    }
                    continue;
                }
                int scaleRow = ((k0 + k) / blockRows) * scaleCols;
                for (int w = 0; w < valid; w++) {
                    dst[d + w] = table[codes[src + w] & 0xFF] * inverse[scaleRow + (i0 + w) / blockCols];
                }
            }
        }

        @Override
        int chunkAlongK() {
            return chunk;
        }

        @Override
        boolean carriesScales() {
            return !folded;
        }

        @Override
        float inverseScale(int i, int k) {
            if (folded) {
                return 1f;
            }
            return axis == 1 ? inverse[(i / blockRows) * scaleCols + k / blockCols]
                    : inverse[(k / blockRows) * scaleCols + i / blockCols];
        }
    }
}
