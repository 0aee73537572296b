package dev.float8j.runtime.dist;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.util.Locale;

/**
 * Prints the bytes each rank sends per all-gather of the linear weights of Llama 3 8B and 70B (one decoder layer, and
 * the output head) on a given number of ranks: BF16 against FP8 codes plus scales for every recipe, E4M3, float32
 * scales, shards as {@link Fp8AllGather} makes them. These are counts, not timings: {@link Fp8AllGather#bytesPerRank}
 * is checked against what the in-process communicator moves in Fp8AllGatherTest. Usage: {@code AllGatherTraffic [ranks]}.
 */
public final class AllGatherTraffic {
    private AllGatherTraffic() {
    }

    private record Model(String name, int dim, int kvDim, int ffn, int vocabulary) {
    }

    private static final ScalingGranularity[] RECIPES = {ScalingGranularity.TENSORWISE, ScalingGranularity.ROWWISE,
        ScalingGranularity.BLOCK_128X128, ScalingGranularity.MX_1X32};

    public static void main(String[] args) {
        int ranks = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        System.out.println("model,weights,rows,cols,ranks,bf16_bytes,tensorwise_bytes,rowwise_bytes,blockwise_bytes,"
                + "mx_bytes,rowwise_over_bf16");
        for (Model m : new Model[] {new Model("llama3-8b", 4096, 1024, 14336, 128256),
            new Model("llama3-70b", 8192, 1024, 28672, 128256)}) {
            long[] layer = new long[RECIPES.length + 1];
            int[][] weights = {{m.dim, m.dim}, {m.kvDim, m.dim}, {m.kvDim, m.dim}, {m.dim, m.dim}, {m.ffn, m.dim},
                {m.ffn, m.dim}, {m.dim, m.ffn}};
            for (int[] w : weights) {
                long[] b = bytes(w[0], w[1], ranks);
                for (int i = 0; i < b.length; i++) {
                    layer[i] += b[i];
                }
            }
            print(m.name, "one layer (q k v o gate up down)", "", "", ranks, layer);
            print(m.name, "head", m.vocabulary + "", m.dim + "", ranks, bytes(m.vocabulary, m.dim, ranks));
        }
    }

    /** BF16, then each recipe's FP8 bytes per rank for one weight [rows, cols]. */
    private static long[] bytes(int rows, int cols, int ranks) {
        long[] out = new long[RECIPES.length + 1];
        out[0] = 2L * ShardLayout.of(rows, cols, ranks, 1).rowsPerRank() * cols;
        for (int i = 0; i < RECIPES.length; i++) {
            QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, RECIPES[i], 1);
            out[i + 1] = Fp8AllGather.bytesPerRank(ShardLayout.of(rows, cols, ranks, Fp8AllGather.rowAlignment(spec)),
                    spec);
        }
        return out;
    }

    private static void print(String model, String what, String rows, String cols, int ranks, long[] b) {
        System.out.println(String.format(Locale.ROOT, "%s,%s,%s,%s,%d,%d,%d,%d,%d,%d,%.4f", model, what, rows, cols, ranks,
                b[0], b[1], b[2], b[3], b[4], (double) b[2] / b[0]));
    }
}
