package dev.float8j.runtime.nn;

import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.ReferenceModelOps;

/** Which {@link ModelOps} a module runs on a tensor: those of the backend that holds it. */
public final class Ops {
    private Ops() {
    }

    /**
     * The current backend's ops for a device tensor; the host ops for a host tensor, so that a model kept on the
     * host keeps working while a device backend runs its gemms.
     */
    public static ModelOps where(Tensor t) {
        return t.isOnDevice() ? Backends.current().ops() : ReferenceModelOps.INSTANCE;
    }
}
