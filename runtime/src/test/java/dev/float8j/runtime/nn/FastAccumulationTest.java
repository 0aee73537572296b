package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ForwardingBackend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.backends.Backends;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A plan's fast accumulation reaches the backend for exactly the gemms it names, and is a hint: the reference backend,
 * which sums in F32, gives the same bits with it as without.
 */
class FastAccumulationTest {
    private final Backend before = Backends.current();

    @AfterEach
    void restoreBackend() {
        Backends.use(before);
    }

    /** The reference backend, recording each FP8 gemm with an output dtype as "output" or "grad_input", and its hint. */
    static final class Recording extends ForwardingBackend {
        final List<String> gemms = new ArrayList<>();

        Recording() {
            super(new ReferenceBackend());
        }

        @Override
        public Tensor gemm(Float8Tensor a, Float8Tensor b, Tensor bias, DType out, Tensor addend,
                boolean fastAccumulation) {
            // under the gemm convention the output gemm takes W along axis 1, grad_input along axis 0
            gemms.add((b.axis() == 1 ? "output" : "grad_input") + (fastAccumulation ? " fast" : ""));
            return super.gemm(a, b, bias, out, addend, fastAccumulation);
        }
    }

    /** y and dX of one forward and backward of a fresh layer of plan on backend, and what the backend saw. */
    static List<Object> step(Float8Plan plan, Recording backend) {
        Backends.use(backend);
        Init.seed(7);
        Float8Linear layer = new Float8Linear(Float8LinearTest.IN, Float8LinearTest.OUT, plan);
        float[] y = layer.forward(Float8LinearTest.input(1)).data();
        float[] dx = layer.backward(Float8LinearTest.gradOutput(2)).data();
        return List.of(y, dx, layer.weight().grad().data());
    }

    @Test
    void eachNamedGemmGetsTheHintAndTheReferenceIgnoresIt() {
        for (Float8Plan plan : List.of(Float8Plan.tensorwise(), Float8Plan.rowwise(), Float8Plan.blockwise())) {
            Recording plain = new Recording();
            List<Object> without = step(plan, plain);
            assertEquals(List.of("output", "grad_input"), plain.gemms, plan.toString());
            for (List<Gemm> named : List.of(List.of(Gemm.OUTPUT), List.of(Gemm.GRAD_INPUT),
                    List.of(Gemm.OUTPUT, Gemm.GRAD_INPUT))) {
                Recording fast = new Recording();
                List<Object> with = step(plan.withFastAccumulation(named.toArray(Gemm[]::new)), fast);
                assertEquals(List.of("output" + (named.contains(Gemm.OUTPUT) ? " fast" : ""),
                        "grad_input" + (named.contains(Gemm.GRAD_INPUT) ? " fast" : "")), fast.gemms, plan + " " + named);
                for (int i = 0; i < without.size(); i++) {
                    assertArrayEquals((float[]) without.get(i), (float[]) with.get(i), plan + " " + named + " result " + i);
                }
            }
        }
    }
}
