package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.FakeDeviceBackend;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints of parameters and AdamW moments that live on a device, without a GPU: a stand-in backend
 * ({@link FakeDeviceBackend}) keeps "device" tensors in memory only it reads, as the CUDA backend does, so every
 * access must go through it.
 */
class DeviceResidentCheckpointTest {
    @TempDir
    Path dir;

    private static final class Net extends Module {
        final Linear a;
        final Linear b;

        Net(int hidden) {
            a = child("a", new Linear(3, hidden));
            b = child("b", new Linear(hidden, 2));
        }
    }

    /** A host net trained three AdamW steps from seed, so weights and both moments are non-trivial. */
    private static Net trainedOnHost(long seed, AdamW[] optimizerOut) {
        Init.seed(seed);
        Net net = new Net(4);
        AdamW adam = new AdamW(net.parameters(), 0.01, 0.1);
        for (int step = 0; step < 3; step++) {
            net.zeroGrad();
            Tensor y = net.b.forward(net.a.forward(Tensor.of(new float[] {1, 2, 3, -1, 0, 1}, 2, 3)));
            net.a.backward(net.b.backward(y));
            adam.step();
        }
        optimizerOut[0] = adam;
        return net;
    }

    /** A net from another seed, moved to the fake device, with AdamW's moments made there and made non-zero. */
    private static Net onDevice(FakeDeviceBackend device, long seed, int hidden, AdamW[] optimizerOut) {
        Init.seed(seed);
        Net net = new Net(hidden);
        net.moveTo(device);
        AdamW adam = new AdamW(net.parameters(), 0.01, 0.1);
        Map<String, float[]> state = adam.state();
        state.replaceAll((name, values) -> filled(values.length, 7f));
        adam.loadState(state, 5);
        optimizerOut[0] = adam;
        return net;
    }

    private static float[] filled(int n, float v) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, v);
        return out;
    }

    private static float[] hostValues(Parameter p, Tensor t) {
        return p.toHost(t).toFloatArray();
    }

    @Test
    void aDeviceModelSavesTheSameBytesAsTheHostModelAndLoadsInPlace() throws Exception {
        AdamW[] hostOpt = new AdamW[1];
        Net host = trainedOnHost(1, hostOpt);
        Path hostFile = dir.resolve("host.f8j");
        Checkpoint.save(hostFile, host, hostOpt[0], 3, Map.of("seed", "1"));

        FakeDeviceBackend device = new FakeDeviceBackend();
        AdamW[] deviceOpt = new AdamW[1];
        Net onDevice = onDevice(device, 2, 4, deviceOpt);
        List<Tensor> valuesBefore = new ArrayList<>();
        for (Parameter p : onDevice.parameters()) {
            assertTrue(p.value().isOnDevice(), p.name());
            valuesBefore.add(p.value());
            device.copyFromHost(p.grad(), Tensor.of(filled(p.value().size(), 3f), p.value().shape()));
        }

        Checkpoint.load(hostFile, onDevice, deviceOpt[0]);
        List<Parameter> hostParams = host.parameters();
        List<Parameter> deviceParams = onDevice.parameters();
        for (int i = 0; i < hostParams.size(); i++) {
            Parameter d = deviceParams.get(i);
            assertSame(valuesBefore.get(i), d.value(), d.name() + " was overwritten in place");
            assertArrayEquals(hostParams.get(i).value().toFloatArray(), hostValues(d, d.value()), d.name());
            assertArrayEquals(new float[d.value().size()], hostValues(d, d.grad()), d.name() + " gradient");
        }
        assertEquals(hostOpt[0].steps(), deviceOpt[0].steps());
        for (Map.Entry<String, float[]> e : hostOpt[0].state().entrySet()) {
            assertArrayEquals(e.getValue(), deviceOpt[0].state().get(e.getKey()), e.getKey());
        }

        Path deviceFile = dir.resolve("device.f8j");
        Checkpoint.save(deviceFile, onDevice, deviceOpt[0], 3, Map.of("seed", "1"));
        assertArrayEquals(Files.readAllBytes(hostFile), Files.readAllBytes(deviceFile));
    }

    @Test
    void aCheckpointThatDoesNotFitLeavesTheDeviceModelAsItWas() throws Exception {
        AdamW[] hostOpt = new AdamW[1];
        Path file = dir.resolve("host.f8j");
        Checkpoint.save(file, trainedOnHost(1, hostOpt), hostOpt[0], 3, Map.of());

        FakeDeviceBackend device = new FakeDeviceBackend();
        AdamW[] deviceOpt = new AdamW[1];
        Net wider = onDevice(device, 2, 5, deviceOpt);
        List<float[]> before = new ArrayList<>();
        for (Parameter p : wider.parameters()) {
            before.add(hostValues(p, p.value()));
        }
        Map<String, float[]> stateBefore = deviceOpt[0].state();

        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(file, wider, deviceOpt[0]));
        assertTrue(e.getMessage().contains("a.weight"), e.getMessage());
        for (int i = 0; i < before.size(); i++) {
            Parameter p = wider.parameters().get(i);
            assertArrayEquals(before.get(i), hostValues(p, p.value()), p.name());
        }
        assertEquals(5, deviceOpt[0].steps());
        for (Map.Entry<String, float[]> s : stateBefore.entrySet()) {
            assertArrayEquals(s.getValue(), deviceOpt[0].state().get(s.getKey()), s.getKey());
        }
    }

    @Test
    void copyFromHostRefusesAnotherSizeAndChangesNothing() {
        FakeDeviceBackend device = new FakeDeviceBackend();
        Net net = onDevice(device, 3, 4, new AdamW[1]);
        Parameter p = net.a.weight();
        float[] before = hostValues(p, p.value());
        assertThrows(IllegalArgumentException.class, () -> p.copyFromHost(p.value(), new float[before.length + 1]));
        assertArrayEquals(before, hostValues(p, p.value()));
        assertNotSame(before, hostValues(p, p.value()));
    }
}
