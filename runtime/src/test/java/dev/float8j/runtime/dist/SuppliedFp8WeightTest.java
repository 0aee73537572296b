package dev.float8j.runtime.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Linear;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A layer given its weight already in FP8, gathered from 2 ranks' shards by {@link Fp8AllGather}, computes the same
 * bits as the layer that quantizes the full weight itself: forward, dX and dW.
 */
class SuppliedFp8WeightTest {
    private static final int IN = 64;
    private static final int OUT = 256; // two whole 128-row blocks, one per rank, for blockwise
    private static final int TOKENS = 8;
    private Backend before;

    @BeforeEach
    void useReference() {
        before = Backends.current();
        Backends.use(new ReferenceBackend());
    }

    @AfterEach
    void restore() {
        Backends.use(before);
    }

    private static Tensor random(long seed, int rows, int cols) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return Tensor.of(v, rows, cols);
    }

    private static Linear layer(Float8Plan plan, Tensor w) {
        Linear l = new Float8Linear(IN, OUT, plan);
        System.arraycopy(w.data(), 0, l.weight().value().data(), 0, w.size());
        return l;
    }

    private static Float8Tensor gatheredOnTwoRanks(Tensor w, QuantSpec spec) {
        ShardLayout layout = ShardLayout.of(OUT, IN, 2, Fp8AllGather.rowAlignment(spec));
        return InProcessGroup.run(2, c -> Fp8AllGather.gather(c, new ReferenceBackend(), layout.shardOf(w, c.rank()),
                spec, layout)).get(0);
    }

    /** y, dX and dW of one forward and backward. */
    private static float[][] run(Linear l, Tensor x, Tensor dY) {
        float[] y = l.forward(x).data().clone();
        float[] dX = l.backward(dY).data().clone();
        return new float[][] {y, dX, l.weight().grad().data().clone()};
    }

    @Test
    void aSuppliedGatheredWeightGivesTheSameBitsAsQuantizingTheFullWeight() {
        Tensor w = random(1, OUT, IN);
        Tensor x = random(2, TOKENS, IN);
        Tensor dY = random(3, TOKENS, OUT);
        for (Float8Plan plan : new Float8Plan[] {Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise(),
                Float8Plan.mx()}) {
            float[][] expected = run(layer(plan, w), x, dY);
            Float8Tensor wq = gatheredOnTwoRanks(w, plan.output().second());

            Linear supplied = layer(plan, w);
            supplied.supplyQuantizedWeight(wq, true);
            float[][] got = run(supplied, x, dY);
            String[] what = {"y", "dX", "dW"};
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(expected[i], got[i], plan + ": " + what[i]);
            }
            // a supplied weight stays until taken back; without it the layer quantizes W again
            supplied.supplyQuantizedWeight(null, true);
            assertArrayEquals(expected[0], supplied.forward(x).data(), plan + ": y after taking the weight back");
        }
    }

    @Test
    void tensorwiseAndBlockwiseNeedNoHighPrecisionWeightRowwiseAndMxDo() {
        Tensor w = random(4, OUT, IN);
        Tensor x = random(5, TOKENS, IN);
        Tensor dY = random(6, TOKENS, OUT);
        for (Float8Plan plan : new Float8Plan[] {Float8Plan.tensorwise(), Float8Plan.blockwise()}) {
            float[][] expected = run(layer(plan, w), x, dY);
            Linear fp8Only = layer(plan, w);
            assertTrue(fp8Only.suppliedWeightServesGradInput(), plan.toString());
            fp8Only.supplyQuantizedWeight(gatheredOnTwoRanks(w, plan.output().second()), false);
            // the high-precision value is never read: zeros there change nothing
            java.util.Arrays.fill(fp8Only.weight().value().data(), 0f);
            float[][] got = run(fp8Only, x, dY);
            assertArrayEquals(expected[0], got[0], plan + ": y");
            assertArrayEquals(expected[1], got[1], plan + ": dX from the transposed view of the FP8 weight");
            assertArrayEquals(expected[2], got[2], plan + ": dW");
        }
        for (Float8Plan plan : new Float8Plan[] {Float8Plan.rowwise(), Float8Plan.mx()}) {
            Linear fp8Only = layer(plan, w);
            assertEquals(false, fp8Only.suppliedWeightServesGradInput(), plan.toString());
            fp8Only.supplyQuantizedWeight(gatheredOnTwoRanks(w, plan.output().second()), false);
            fp8Only.forward(x);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> fp8Only.backward(dY));
            assertTrue(e.getMessage().contains("grad_input needs W's high-precision value"), e.getMessage());
            // the failed backward kept its save: with the weight value declared current it runs
            fp8Only.supplyQuantizedWeight(gatheredOnTwoRanks(w, plan.output().second()), true);
            System.arraycopy(w.data(), 0, fp8Only.weight().value().data(), 0, w.size());
            fp8Only.backward(dY);
        }
    }

    @Test
    void aWeightOfAnotherSpecIsRefused() {
        Tensor w = random(7, OUT, IN);
        Linear tensorwise = layer(Float8Plan.tensorwise(), w);
        Float8Tensor rowwise = new ReferenceBackend().quantize(w, Float8Plan.rowwise().output().second());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tensorwise.supplyQuantizedWeight(rowwise, true));
        assertTrue(e.getMessage().contains("must be quantized as"), e.getMessage());
        Float8Tensor alongAxis0 = new ReferenceBackend().quantize(w, Float8Plan.tensorwise().output().second().otherAxis());
        assertThrows(IllegalArgumentException.class, () -> tensorwise.supplyQuantizedWeight(alongAxis0, true));
        Linear highPrecision = new Linear(IN, OUT);
        Float8Tensor any = new ReferenceBackend().quantize(w, Float8Plan.tensorwise().output().second());
        assertThrows(IllegalArgumentException.class, () -> highPrecision.supplyQuantizedWeight(any, true));
        // refused calls leave the layer quantizing its own weight
        Tensor x = random(8, TOKENS, IN);
        assertArrayEquals(layer(Float8Plan.tensorwise(), w).forward(x).data(), tensorwise.forward(x).data());
    }
}
