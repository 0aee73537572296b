package dev.float8j.runtime.nn;

import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.ModelOps;
import java.util.List;
import java.util.function.UnaryOperator;

/** Which {@link ModelOps} a module runs on a tensor: those of the backend that holds it. */
public final class Ops {
    private Ops() {
    }

    /**
     * The current backend's ops for a device tensor; its host ops for a host tensor (the CPU backend's own,
     * {@link dev.float8j.runtime.ops.ReferenceModelOps} on the others), so that a model kept on the host keeps working while a device
     * backend runs its gemms.
     */
    public static ModelOps where(Tensor t) {
        return t.isOnDevice() ? Backends.current().ops() : Backends.current().hostOps();
    }

    /**
     * Hands tensors the caller owns and is done with back to the current backend ({@link
     * dev.float8j.runtime.backend.Backend#release(Tensor)}): a device backend frees their memory once the last view is
     * released, so a model's step holds only what it still needs. Modules release their temporaries, their saves once
     * backward used them, and the gradients they made once consumed; never a tensor a caller gave them.
     */
    public static void release(Tensor... tensors) {
        for (Tensor t : tensors) {
            Backends.current().release(t);
        }
    }

    /**
     * parts[0] + parts[1] + ..., by adds in list order, each rounded to the first part's dtype; the parts, which the
     * caller owns and needs no more, are released.
     */
    public static Tensor sum(List<Tensor> parts) {
        Tensor sum = parts.get(0);
        for (Tensor part : parts.subList(1, parts.size())) {
            Tensor next = where(sum).add(sum, part);
            release(sum, part);
            sum = next;
        }
        return sum;
    }

    /** f(x), after which x, which the caller owns and needs no more, is released (see {@link #release}). */
    public static Tensor consume(Tensor x, UnaryOperator<Tensor> f) {
        Tensor y = f.apply(x);
        release(x);
        return y;
    }
}
