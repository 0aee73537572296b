package dev.float8j.runtime.cuda;

import dev.float8j.runtime.backend.MemoryScope;
import java.util.ArrayList;
import java.util.List;

/**
 * Frees, when it closes, every device tensor the CUDA backend made while it was the innermost open scope: a
 * training step's activations, FP8 copies, outputs and gradients-to-be, without waiting for the garbage
 * collector. Copy out (to the host, or into a parameter's gradient, which lives outside) what must outlive it;
 * a freed tensor used later fails with "device buffer used after close". Parameters moved to the GPU inside a
 * scope would be freed with it: move them before opening one.
 *
 * <pre>{@code
 * try (DeviceScope step = cuda.openScope()) {
 *     Tensor y = layer.forward(x);
 *     layer.backward(dy);
 * }
 * }</pre>
 */
public final class DeviceScope implements MemoryScope {
    private final DeviceMemory owner;
    private final List<Resident> made = new ArrayList<>();
    private boolean closed;

    DeviceScope(DeviceMemory owner) {
        this.owner = owner;
    }

    void add(Resident r) {
        made.add(r);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        owner.closeScope(this);
        closed = true;
        for (Resident r : made) {
            r.free();
        }
        made.clear();
    }
}
