package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.runtime.train.Sgd;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class Float8TrainingTest {

    /** A model as a user writes it: children in plain fields, one Sequential. */
    static final class Net extends Module implements Layer {
        Linear proj = child("proj", new Linear(8, 16));
        final Sequential body = child("body", new Sequential(new Linear(16, 16), new Activation(Activation.Kind.GELU)));
        Linear head = child("head", new Linear(16, 4));

        @Override
        public Tensor forward(Tensor x) {
            return head.forward(body.forward(proj.forward(x)));
        }

        @Override
        public Tensor backward(Tensor g) {
            return proj.backward(body.backward(head.backward(g)));
        }
    }

    /** Holds its second layer in a final field, so it cannot take a replacement. */
    static final class Frozen extends Module {
        Linear first = child("first", new Linear(8, 8));
        final Linear second = child("second", new Linear(8, 8));
    }

    private static Tensor input() {
        Init.seed(99);
        return Tensor.of(Init.normal(5 * 8, 1f), 5, 8);
    }

    @Test
    void convertsChosenLayersInPlaceKeepingTheirWeightTensors() {
        Init.seed(1);
        Net net = new Net();
        Tensor projWeight = net.proj.weight().value();
        Linear bodyLinear = (Linear) net.body.get(0);
        Tensor highPrecisionOut = net.forward(input());
        net.backward(Tensor.zeros(highPrecisionOut.dtype(), highPrecisionOut.shape()));

        Float8Training.Conversion c = Float8Training.convert(net, Float8Plan.tensorwise(), (name, l) -> !name.equals("head"));

        assertEquals(List.of("proj", "body.0"), c.converted());
        assertEquals(Map.of("head", "rejected by the filter"), c.skipped());
        Float8Linear proj = assertInstanceOf(Float8Linear.class, net.proj);
        assertSame(proj, net.children().get("proj"), "the field and the tree agree");
        assertEquals("proj", proj.name());
        assertEquals(Float8Plan.tensorwise(), proj.plan());
        assertSame(projWeight, proj.weight().value(), "the weight tensor itself moves over");
        assertInstanceOf(Float8Linear.class, net.body.get(0));
        assertSame(net.body.get(0), net.body.children().get("0"));
        assertEquals("body.0", ((Module) net.body.get(0)).name());
        assertEquals("", bodyLinear.name(), "the replaced layer left the tree");
        assertEquals(Linear.class, net.head.getClass());
        assertEquals(List.of("proj.weight", "body.0.weight", "head.weight"), List.copyOf(net.namedParameters().keySet()));

        // the model now runs the FP8 layers: its output is that of a hand-built FP8 model with the same weights
        Tensor out = net.forward(input());
        Float8Linear p = new Float8Linear(8, 16, Float8Plan.tensorwise());
        p.weight().shareTensorsOf(proj.weight());
        Float8Linear b = new Float8Linear(16, 16, Float8Plan.tensorwise());
        b.weight().shareTensorsOf(((Linear) net.body.get(0)).weight());
        Tensor expected = net.head.forward(new Activation(Activation.Kind.GELU).forward(b.forward(p.forward(input()))));
        assertArrayEquals(expected.toFloatArray(), out.toFloatArray());
        assertFalse(java.util.Arrays.equals(highPrecisionOut.toFloatArray(), out.toFloatArray()), "FP8 changes the output");
    }

    @Test
    void anOptimizerMadeBeforeConversionKeepsUpdatingTheWeightsInUse() {
        Init.seed(2);
        Net net = new Net();
        Sgd sgd = new Sgd(net.parameters(), 0.1, 0, 0);
        Float8Training.convert(net, "rowwise", (name, l) -> true);
        float before = net.proj.weight().value().data()[0];
        Tensor out = net.forward(input());
        net.backward(Tensor.of(new float[out.size()], out.shape()).copy());
        Init.seed(3);
        net.zeroGrad();
        out = net.forward(input());
        net.backward(Tensor.of(Init.normal(out.size(), 1f), out.shape()));
        float grad = net.proj.weight().grad().data()[0];
        sgd.step();
        assertNotEquals(0f, grad);
        assertEquals(before - 0.1f * grad, net.proj.weight().value().data()[0], 1e-6f);
    }

    @Test
    void conversionDoesNotShiftTheSeededInitializationStream() {
        Init.seed(4);
        new Net();
        float[] plain = new Linear(3, 3).weight().value().data();
        Init.seed(4);
        Net converted = new Net();
        Float8Training.convert(converted, "mx", (name, l) -> true);
        assertArrayEquals(plain, new Linear(3, 3).weight().value().data());
    }

    @Test
    void aParentThatCannotTakeTheReplacementFailsTheWholeCallAndChangesNothing() {
        Frozen frozen = new Frozen();
        Linear first = frozen.first;
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Float8Training.convert(frozen, "tensorwise", (name, l) -> true));
        assertTrue(e.getMessage().contains("final field Frozen.second"), e.getMessage());
        assertSame(first, frozen.first, "the first layer, converted before the failure, is put back");
        assertSame(first, frozen.children().get("first"));
        assertEquals("first", first.name());
        assertEquals(Linear.class, frozen.children().get("second").getClass());
    }

    @Test
    void alreadyFp8LayersAndSubclassesAreSkippedWithTheReason() {
        Sequential s = new Sequential(new Float8Linear(8, 8, Float8Plan.rowwise()), new Linear(8, 8) {
        });
        Float8Training.Conversion c = Float8Training.convert(s, "rowwise", (name, l) -> true);
        assertEquals(List.of(), c.converted());
        assertTrue(c.skipped().get("0").startsWith("already FP8"), c.skipped().toString());
        assertTrue(c.skipped().get("1").startsWith("a subclass of Linear"), c.skipped().toString());
    }

    @Test
    void aLayerWithAPendingBackwardIsRefused() {
        Net net = new Net();
        net.forward(input());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Float8Training.convert(net, "rowwise",
                (name, l) -> true));
        assertTrue(e.getMessage().contains("proj"), e.getMessage());
        assertEquals(Linear.class, net.proj.getClass());
    }

    @Test
    void theCpuFilterSkipsLayersBelowTheMeasuredThresholdAndSaysWhy() {
        Sequential s = new Sequential(new Linear(256, 1024), new Linear(1024, 512), new Linear(512, 100));
        Float8Training.Conversion c = Float8Training.convert(s, Float8Plan.rowwise(),
                Float8Training.sizeFilter(new CpuBackend()));
        assertEquals(List.of("1"), c.converted());
        assertTrue(c.skipped().get("0").contains("K=256, N=1024"), c.skipped().toString());
        assertTrue(c.skipped().get("2").contains("N=100"), c.skipped().toString());
        assertTrue(Float8Training.sizeFilter(new ReferenceBackend()).test("x", new Linear(3, 5)));
    }

    /** A backend of which the filter reads only the name. */
    private static Backend named(String name) {
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> {
                    if (method.getName().equals("name")) {
                        return name;
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void theCudaFilterConvertsAlignedLayersFromTheMeasuredThreshold() {
        var filter = Float8Training.sizeFilter(named("cuda (NVIDIA H100 80GB HBM3)"));
        assertTrue(filter.test("x", new Linear(4096, 14336)), "K, N >= 4096, multiples of 16");
        assertFalse(filter.test("x", new Linear(2048, 4096)), "K below 4096: FP8 measured no faster than BF16");
        assertFalse(filter.test("x", new Linear(4096, 4100)), "N not a multiple of 16");
    }

    @Test
    void recipesResolveByNameAndAnUnknownNameListsTheValidOnes() {
        assertEquals(Float8Plan.rowwiseGradWeightHighPrecision(), Float8Recipes.named("rowwise_with_gw_hp"));
        assertEquals(Float8Plan.rowwiseGradWeightHighPrecision(), Float8Recipes.named("Rowwise-With-GW-HP"));
        assertEquals(Float8Plan.tensorwise(), Float8Recipes.named("tensorwise"));
        assertEquals(Float8Plan.blockwise(), Float8Recipes.named("blockwise"));
        assertEquals(Float8Plan.mx(), Float8Recipes.named("mx"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Float8Recipes.named("rowwize"));
        assertEquals("no FP8 recipe 'rowwize'; valid names: tensorwise, tensorwise_delayed, tensorwise_fast_accum,"
                + " rowwise, rowwise_fast_accum, rowwise_with_gw_hp, rowwise_requantize, rowwise_both_axes, blockwise, mx",
                e.getMessage());
        assertEquals(Float8Plan.rowwise().withFastAccumulation(Gemm.OUTPUT), Float8Recipes.named("rowwise-fast-accum"));
    }

    @Test
    void replaceChildChecksItsArguments() {
        Net net = new Net();
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> net.replaceChild("nope", new Linear(8, 16)));
        assertTrue(unknown.getMessage().contains("[proj, body, head]"), unknown.getMessage());
        IllegalArgumentException owned = assertThrows(IllegalArgumentException.class,
                () -> net.replaceChild("proj", net.head));
        assertTrue(owned.getMessage().contains("already has a parent"), owned.getMessage());
        IllegalStateException wrongType = assertThrows(IllegalStateException.class,
                () -> net.replaceChild("proj", new RMSNorm(16)));
        assertTrue(wrongType.getMessage().contains("cannot hold a RMSNorm"), wrongType.getMessage());
        assertEquals(Linear.class, net.children().get("proj").getClass());
        Linear replacement = new Linear(8, 16);
        Module previous = net.replaceChild("proj", replacement);
        assertSame(replacement, net.proj);
        assertEquals("proj", replacement.name());
        assertEquals(null, previous.parent());
    }
}
