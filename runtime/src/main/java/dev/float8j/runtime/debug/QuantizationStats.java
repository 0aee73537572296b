package dev.float8j.runtime.debug;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;

/**
 * What one quantization did to a tensor.
 *
 * @param amax largest |x| of the high-precision input
 * @param minScale smallest block scale (quantization multiplier)
 * @param maxScale largest block scale
 * @param underflowShare share of nonzero inputs that became zero
 * @param saturationShare share of inputs clipped to the format's maximum: their scaled magnitude lies past the
 *     midpoint between the maximum and the next step above it, so rounding alone would not have brought them back
 * @param sqnrDb signal-to-quantization-noise ratio, 10·log10(Σx² / Σ(x − dequantized)²); +Inf when exact
 * @param relativeMse Σ(x − dequantized)² / Σx² (0 when exact or when x is all zeros)
 */
public record QuantizationStats(long elements, float amax, float minScale, float maxScale, double underflowShare,
        double saturationShare, double sqnrDb, double relativeMse) {

    /** Measures q against the high-precision tensor it came from. */
    public static QuantizationStats of(Tensor highPrecision, Float8Tensor q, Backend backend) {
        Tensor deq = backend.dequantize(q);
        int rows = q.rows();
        int cols = q.cols();
        float fmax = q.format().max();
        // the step between the largest codes, e.g. 32 for E4M3 (416, 448); beyond fmax + step/2 a value saturates
        float step = Math.scalb(1f, Math.getExponent(fmax) - q.format().mantissaBits());
        float clipsAbove = fmax + step / 2;
        float amax = 0;
        long underflow = 0;
        long saturated = 0;
        double signal = 0;
        double noise = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float x = highPrecision.get(r, c);
                float d = deq.get(r, c);
                amax = Math.max(amax, Math.abs(x));
                if (x != 0 && d == 0) {
                    underflow++;
                }
                if (Math.abs(x * q.scale(r, c)) > clipsAbove) {
                    saturated++;
                }
                signal += (double) x * x;
                noise += (double) (x - d) * (x - d);
            }
        }
        float minScale = Float.POSITIVE_INFINITY;
        float maxScale = 0;
        for (float s : q.scales()) {
            minScale = Math.min(minScale, s);
            maxScale = Math.max(maxScale, s);
        }
        long n = (long) rows * cols;
        double relativeMse = signal == 0 ? 0 : noise / signal;
        double sqnrDb = noise == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
        return new QuantizationStats(n, amax, minScale, maxScale, (double) underflow / n, (double) saturated / n, sqnrDb,
                relativeMse);
    }
}
