package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path dir;

    /** Two linears; the second's plan is configurable, as an FP8 layer's would be. */
    private static final class Net extends Module {
        final Linear a;
        final Linear b;

        Net(int hidden, String plan) {
            a = child("a", new Linear(3, hidden));
            b = child("b", new Linear(hidden, 2) {
                @Override
                public String float8Plan() {
                    return plan;
                }
            });
        }
    }

    private static Net trained(long seed, String plan, AdamW[] optimizerOut) {
        Init.seed(seed);
        Net net = new Net(4, plan);
        AdamW adam = new AdamW(net.parameters(), 0.01, 0.0);
        for (int step = 0; step < 3; step++) {
            net.zeroGrad();
            Tensor y = net.b.forward(net.a.forward(Tensor.of(new float[] {1, 2, 3, -1, 0, 1}, 2, 3)));
            net.a.backward(net.b.backward(y));
            adam.step();
        }
        optimizerOut[0] = adam;
        return net;
    }

    private static float[] flatten(Module m) {
        return m.parameters().stream().map(p -> p.value().toFloatArray())
                .reduce(new float[0], (x, y) -> {
                    float[] out = java.util.Arrays.copyOf(x, x.length + y.length);
                    System.arraycopy(y, 0, out, x.length, y.length);
                    return out;
                });
    }

    @Test
    void roundTripRestoresWeightsOptimizerStepAndMetadata() throws Exception {
        AdamW[] opt = new AdamW[1];
        Net saved = trained(1, "plan X", opt);
        Path file = dir.resolve("c.f8j");
        Checkpoint.save(file, saved, opt[0], 3, Map.of("seed", "1"));

        AdamW[] opt2 = new AdamW[1];
        Net fresh = trained(2, "plan X", opt2);
        Checkpoint c = Checkpoint.load(file, fresh, opt2[0]);
        assertArrayEquals(flatten(saved), flatten(fresh));
        assertEquals(3, c.step());
        assertEquals(Map.of("seed", "1"), c.metadata());
        assertEquals(opt[0].steps(), opt2[0].steps());
        for (String k : opt[0].state().keySet()) {
            assertArrayEquals(opt[0].state().get(k), opt2[0].state().get(k), k);
        }
    }

    @Test
    void damagedFileIsRejectedAndNothingIsLoaded() throws Exception {
        AdamW[] opt = new AdamW[1];
        Net saved = trained(1, "plan X", opt);
        Path file = dir.resolve("c.f8j");
        Checkpoint.save(file, saved, opt[0], 3, Map.of());
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length / 2] ^= 0x10;
        Files.write(file, bytes);

        AdamW[] opt2 = new AdamW[1];
        Net target = trained(2, "plan X", opt2);
        float[] before = flatten(target);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(file, target, opt2[0]));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
        assertArrayEquals(before, flatten(target));

        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 20));
        assertTrue(assertThrows(CheckpointException.class, () -> Checkpoint.read(file)).getMessage().contains("damaged"));
        Files.writeString(file, "not a checkpoint at all");
        assertThrows(CheckpointException.class, () -> Checkpoint.read(file));
    }

    @Test
    void mismatchedShapesNamesOrPlansAreRejectedBeforeAnyCopy() throws Exception {
        AdamW[] opt = new AdamW[1];
        Net saved = trained(1, "plan X", opt);
        Path file = dir.resolve("c.f8j");
        Checkpoint.save(file, saved, opt[0], 3, Map.of());

        Init.seed(3);
        Net wider = new Net(5, "plan X");
        float[] before = flatten(wider);
        CheckpointException shape = assertThrows(CheckpointException.class,
                () -> Checkpoint.load(file, wider, new AdamW(wider.parameters(), 0.01, 0.0)));
        assertTrue(shape.getMessage().contains("a.weight") && shape.getMessage().contains("[4, 3]"), shape.getMessage());
        assertArrayEquals(before, flatten(wider));

        Init.seed(3);
        Net otherPlan = new Net(4, "plan Y");
        float[] before2 = flatten(otherPlan);
        CheckpointException plan = assertThrows(CheckpointException.class,
                () -> Checkpoint.load(file, otherPlan, new AdamW(otherPlan.parameters(), 0.01, 0.0)));
        assertTrue(plan.getMessage().contains("plan X") && plan.getMessage().contains("plan Y"), plan.getMessage());
        assertArrayEquals(before2, flatten(otherPlan));

        Init.seed(3);
        Net sgdNet = new Net(4, "plan X");
        CheckpointException optimizer = assertThrows(CheckpointException.class,
                () -> Checkpoint.load(file, sgdNet, new Sgd(sgdNet.parameters(), 0.1, 0.9, 0)));
        assertTrue(optimizer.getMessage().contains("SGD"), optimizer.getMessage());

        final class Renamed extends Module {
            Renamed() {
                child("a", new Linear(3, 4));
                child("c", new Linear(4, 2));
            }
        }
        Renamed renamed = new Renamed();
        CheckpointException names = assertThrows(CheckpointException.class,
                () -> Checkpoint.load(file, renamed, new AdamW(renamed.parameters(), 0.01, 0.0)));
        assertTrue(names.getMessage().contains("[b.weight]") && names.getMessage().contains("[c.weight]"), names.getMessage());
    }
    @Test
    void aFailedSaveLeavesNoTempFileAndNamesThePath() throws Exception {
        AdamW[] adam = new AdamW[1];
        Net net = trained(1, "plan", adam);
        // a folder that is not empty where the checkpoint should go: the final rename fails
        Path target = dir.resolve("ckpt");
        Files.createDirectories(target.resolve("inside"));
        java.io.IOException e = assertThrows(java.io.IOException.class,
                () -> Checkpoint.save(target, net, adam[0], 3, Map.of()));
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            assertEquals(java.util.List.of(target), files.toList(), "nothing but the folder that was in the way");
        }
    }
}
