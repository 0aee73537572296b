package dev.float8j.runtime.cuda;

import dev.float8j.plan.QuantSpec;

/**
 * An FP8 tensor on the GPU in the layout cuBLASLt's FP8 gemm reads: K-contiguous. Along axis 1 the codes
 * are stored [rows][ld], along axis 0 transposed, [cols][ld] (ld = the summed length rounded up to 16;
 * padding and padded free rows hold zero codes). Scales (quantization multipliers) and their inverses
 * (what cuBLASLt multiplies by) are in cuBLASLt's layout for the granularity:
 * tensorwise [1]; rowwise [F]; 1xT tiles [ceil(K/T)][ldScale], F fastest; 128x128 [ceil(F/128)][ldScale = ceil(K/128) rounded up to 4],
 * where F is the free length (padded) and K the summed one.
 */
public record DeviceFloat8(DeviceBuffer codes, DeviceBuffer scales, DeviceBuffer inverseScales, QuantSpec spec,
        int rows, int cols, int ld, int ldScale) implements AutoCloseable {

    /** Length of the summed dimension. */
    public int depth() {
        return spec.axis() == 1 ? cols : rows;
    }

    /** Length of the free dimension. */
    public int free() {
        return spec.axis() == 1 ? rows : cols;
    }

    /** Rows of the stored (K-contiguous) copy: the free length rounded up to 16. */
    public int storedRows() {
        return roundUp(free(), 16);
    }

    @Override
    public void close() {
        codes.close();
        scales.close();
        inverseScales.close();
    }

    @Override
    public String toString() {
        return "DeviceFloat8[" + rows + "x" + cols + " " + spec.format() + " " + spec.granularity() + " axis="
                + spec.axis() + "]";
    }

    static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /**
     * Row stride of a 128x128-block scale grid: the number of blocks along K rounded up to 4 (16 bytes), as
     * cuBLASLt reads BLK128x128_32F scales.
     */
    static int blockScaleStride(int depth) {
        return roundUp(ceilDiv(depth, 128), 4);
    }
}
