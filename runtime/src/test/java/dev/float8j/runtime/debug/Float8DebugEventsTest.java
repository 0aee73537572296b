package dev.float8j.runtime.debug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.annotations.Backward;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Sequential;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Observations from real FP8 layers inside a model tree carry each layer's qualified name, gemm, operand and step. */
class Float8DebugEventsTest {

    private record Event(Site site, long step) {
    }

    /** Records every observation it is offered. */
    private static final class Recorder implements QuantizationObserver {
        final List<Event> events = new ArrayList<>();
        final Selection selection;

        Recorder(Selection selection) {
            this.selection = selection;
        }

        @Override
        public boolean wants(Site site, long step) {
            return selection.matches(site, step);
        }

        @Override
        public void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend) {
            events.add(new Event(site, step));
        }
    }

    private static final class Net extends Module {
        final Sequential layers;

        Net(Float8Plan plan) {
            Module block = child("blocks", new Sequential());
            layers = (Sequential) block;
            layers.add(new Float8Linear(8, 16, plan));
            layers.add(new Float8Linear(16, 4, plan));
        }

        void step(long step) {
            Float8Debug.setStep(step);
            Tensor y = layers.forward(Tensor.of(Init.normal(3 * 8, 1f), 3, 8));
            layers.backward(Tensor.of(Init.normal(y.size(), 1f), y.shape()));
        }
    }

    @AfterEach
    void reset() {
        Float8Debug.observe(null);
        Float8Debug.clearSwitches();
        Float8Debug.setStep(0);
    }

    private static Set<Site> sites(List<Event> events) {
        Set<Site> out = new LinkedHashSet<>();
        events.forEach(e -> out.add(e.site()));
        return out;
    }

    private static Set<Site> allSixOf(String module) {
        return Set.of(new Site(module, Gemm.OUTPUT, Operand.INPUT), new Site(module, Gemm.OUTPUT, Operand.WEIGHT),
                new Site(module, Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT), new Site(module, Gemm.GRAD_INPUT, Operand.WEIGHT),
                new Site(module, Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT), new Site(module, Gemm.GRAD_WEIGHT, Operand.INPUT));
    }

    @Test
    void everyQuantizationIsTaggedWithModuleGemmOperandAndStep() {
        Init.seed(1);
        Net net = new Net(Float8Plan.rowwise().withBackward(Backward.REQUANTIZE));
        Recorder all = new Recorder(Selection.all());
        Float8Debug.observe(all);
        net.step(7);
        Set<Site> expected = new LinkedHashSet<>(allSixOf("blocks.0"));
        expected.addAll(allSixOf("blocks.1"));
        assertEquals(expected, sites(all.events));
        assertTrue(all.events.stream().allMatch(e -> e.step() == 7));
        assertEquals(12, all.events.size(), "each site once per step");
    }

    @Test
    void selectionNarrowsByNameGemmOperandAndStep() {
        Init.seed(1);
        Net net = new Net(Float8Plan.rowwise());
        Recorder some = new Recorder(Selection.all().modules("blocks.1").gemms(Gemm.GRAD_WEIGHT).operands(Operand.INPUT)
                .steps(2, 10).every(4));
        Float8Debug.observe(some);
        for (long s = 0; s < 12; s++) {
            net.step(s);
        }
        assertEquals(List.of(new Event(new Site("blocks.1", Gemm.GRAD_WEIGHT, Operand.INPUT), 2),
                new Event(new Site("blocks.1", Gemm.GRAD_WEIGHT, Operand.INPUT), 6),
                new Event(new Site("blocks.1", Gemm.GRAD_WEIGHT, Operand.INPUT), 10)), some.events);
    }

    @Test
    void switchedOffGemmsAreNotQuantized() {
        Init.seed(1);
        Net net = new Net(Float8Plan.rowwise());
        DebugConfig.apply("off module=blocks.0 gemm=grad_input\noff module=blocks.1", "test");
        Recorder all = new Recorder(Selection.all());
        Float8Debug.observe(all);
        net.step(0);
        Set<Site> expected = new LinkedHashSet<>(allSixOf("blocks.0"));
        expected.remove(new Site("blocks.0", Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT));
        expected.remove(new Site("blocks.0", Gemm.GRAD_INPUT, Operand.WEIGHT));
        assertEquals(expected, sites(all.events));
    }
}
