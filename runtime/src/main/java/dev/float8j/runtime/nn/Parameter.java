package dev.float8j.runtime.nn;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A trainable F32 tensor with its gradient, owned by a module. Both live on the host unless {@link #moveTo}
 * put them on a backend's device, where gradients are then accumulated. The gradient is F32, or on a device BF16 if
 * {@link #moveTo(Backend, DType)} asked for it.
 *
 * <p>The value has a {@link #version()} that every write made through float8j moves on: optimizer updates, loads and
 * {@link #copyFromHost}, {@link #moveTo}, {@link #moveToHost}, sharing another parameter's tensors, and
 * {@link #markChanged()}, which code that writes {@code value()}'s elements itself must call. FP8 copies of the
 * weight reused within a {@link WeightCastReuse} window are keyed on it.
 *
 * <p>On a device, {@link #zeroGrad()} writes nothing at once: the gradient's next gemm or matmul product overwrites
 * it instead of adding to it, which saves a pass over every weight gradient per step, and anything else that reads
 * or adds to it ({@link #grad()}, {@link #accumulateGrad}) zeroes it first.
 */
public final class Parameter {
    private final Module owner;
    private final String localName;
    private Tensor value;
    private Tensor grad;
    /** The backend whose device holds value and grad; null on the host. */
    private Backend device;
    /** The value's version; parameters that share one value tensor share it too. */
    private AtomicLong version = new AtomicLong();
    /** Whether grad is to be read as zero though its elements were not written yet; shared like version. */
    private AtomicBoolean gradZeroPending = new AtomicBoolean();

    Parameter(Module owner, String localName, Tensor initial) {
        if (initial.dtype() != DType.F32) {
            throw new IllegalArgumentException("parameters are F32 master weights; got " + initial.dtype());
        }
        this.owner = owner;
        this.localName = localName;
        this.value = initial;
        this.grad = Tensor.zeros(DType.F32, initial.shape());
    }

    /** The fully qualified name, e.g. {@code blocks.0.mlp.up.weight}. */
    public String name() {
        return owner.qualify(localName);
    }

    /** The module that registered this parameter. */
    public Module owner() {
        return owner;
    }

    /** The current value (F32). */
    public Tensor value() {
        return value;
    }

    /**
     * A number that changes whenever the value may have changed through float8j (see the class comment); equal
     * versions of one value tensor mean equal elements, as long as writes made outside float8j call
     * {@link #markChanged()}.
     */
    public long version() {
        return version.get();
    }

    /**
     * Declares that value's elements were written outside float8j's own write paths (e.g. through
     * {@code value().data()}), so FP8 copies made from the old elements are not used again.
     */
    public void markChanged() {
        version.incrementAndGet();
    }

    /**
     * The accumulated gradient (F32, or BF16 on a device where {@link #moveTo(Backend, DType)} asked), shaped like the
     * value.
     */
    public Tensor grad() {
        settleGrad();
        return grad;
    }

    /** The gradient's dtype: F32, or BF16 on a device where {@link #moveTo(Backend, DType)} asked for it. */
    public DType gradDType() {
        return grad.dtype();
    }

    /** Writes the zeros a {@link #zeroGrad()} on a device left pending. */
    private void settleGrad() {
        if (gradZeroPending.get()) {
            device.zero(grad);
            gradZeroPending.set(false);
        }
    }

    /** Adds g to the gradient, element by element, where the gradient lives. */
    public void accumulateGrad(Tensor g) {
        if (!Arrays.equals(g.shape(), value.shape()) && g.size() != value.size()) {
            throw new IllegalArgumentException("gradient of " + name() + " must have shape " + Arrays.toString(value.shape())
                    + ", got " + Arrays.toString(g.shape()));
        }
        if (device != null) {
            device.accumulate(grad(), g);
            return;
        }
        if (g.isOnDevice()) {
            throw new IllegalStateException("the gradient of " + name() + " was computed on " + g.deviceData().device()
                    + " but the parameter lives on the host; move the module there first with module.moveTo(backend)");
        }
        float[] acc = grad.data();
        for (int i = 0; i < acc.length; i++) {
            acc[i] += g.getFlat(i);
        }
    }

    /**
     * Adds the FP8 gemm of a and b (see {@link Backend#gemm}) to the gradient, where the gradient lives; the CUDA
     * backend accumulates inside the gemm. Host backends give exactly {@code accumulateGrad(backend.gemm(a, b))}.
     */
    public void accumulateGradGemm(Backend backend, Float8Tensor a, Float8Tensor b) {
        requireGradientProduct("gemm", a, b, a.axis() == 1 ? a.rows() : a.cols(), b.axis() == 1 ? b.rows() : b.cols(),
                a.isOnDevice() || b.isOnDevice());
        if (gradZeroPending.get()) {
            // the mark goes only once the product is written: a call that throws leaves the gradient zero
            backend.gemmInto(grad, a, b);
            gradZeroPending.set(false);
        } else {
            backend.gemmAccumulate(grad, a, b);
        }
    }

    /**
     * Adds the high-precision gemm of a and b under the axis convention (see {@link Backend#matmul}) to the gradient,
     * where the gradient lives; the CUDA backend accumulates inside the gemm. Host backends give exactly
     * {@code accumulateGrad(backend.matmul(a, aAxis, b, bAxis))}.
     */
    public void accumulateGradMatmul(Backend backend, Tensor a, int aAxis, Tensor b, int bAxis) {
        requireGradientProduct("matmul", a, b, aAxis == 1 ? a.rows() : a.cols(), bAxis == 1 ? b.rows() : b.cols(),
                a.isOnDevice() || b.isOnDevice());
        if (gradZeroPending.get()) {
            backend.matmulInto(grad, a, aAxis, b, bAxis);
            gradZeroPending.set(false);
        } else {
            backend.matmulAccumulate(grad, a, aAxis, b, bAxis);
        }
    }

    /**
     * Fails unless a product of a and b (op names it), rows x cols, has the gradient's shape, and unless device
     * operands meet a parameter that lives on a device too.
     */
    private void requireGradientProduct(String op, Object a, Object b, int rows, int cols, boolean onDevice) {
        if (rows * cols != value.size() || cols != value.cols()) {
            throw new IllegalArgumentException("gradient of " + name() + " must have shape "
                    + Arrays.toString(value.shape()) + ", the " + op + " of " + a + " and " + b + " gives " + rows + "x"
                    + cols);
        }
        if (device == null && onDevice) {
            throw new IllegalStateException("the gradient of " + name() + " is computed from device tensors but the"
                    + " parameter lives on the host; move the module there first with module.moveTo(backend)");
        }
    }

    /** A copy of host tensor t where value lives (t itself on the host): how optimizer state joins its parameter. */
    public Tensor placeLikeValue(Tensor t) {
        return device == null ? t : device.toDevice(t);
    }

    /** t, a tensor where value lives, on the host (t itself when it is there). */
    public Tensor toHost(Tensor t) {
        return t.isOnDevice() ? device.toHost(t) : t;
    }

    /**
     * Overwrites t, a tensor shaped like value and living where it does (the value itself, or optimizer state made
     * with {@link #placeLikeValue}), with host values, in place: a checkpoint restores weights and moments this way,
     * so that every holder of t sees them.
     */
    public void copyFromHost(Tensor t, float[] values) {
        if (values.length != value.size() || t.size() != value.size()) {
            throw new IllegalArgumentException(name() + " holds " + value.size() + " values; cannot copy "
                    + values.length + " into " + t);
        }
        Tensor source = Tensor.of(values, t.shape());
        if (device != null) {
            device.copyFromHost(t, source);
        } else if (t.isOnDevice()) {
            throw new IllegalArgumentException(t + " is on a device but " + name() + " lives on the host");
        } else {
            System.arraycopy(values, 0, t.data(), 0, values.length);
        }
        if (t == value) {
            markChanged();
        }
    }

    /**
     * Makes this parameter hold source's value and gradient tensors themselves (not copies), where they live: a
     * layer converted to another class keeps the weights, gradients and device of the one it replaces, and an
     * optimizer that updates source's arrays in place updates this parameter too.
     */
    void shareTensorsOf(Parameter source) {
        if (!Arrays.equals(source.value.shape(), value.shape())) {
            throw new IllegalArgumentException(name() + " has shape " + Arrays.toString(value.shape()) + ", "
                    + source.name() + " has " + Arrays.toString(source.value.shape()));
        }
        value = source.value;
        grad = source.grad;
        device = source.device;
        version = source.version;
        gradZeroPending = source.gradZeroPending;
        markChanged();
    }

    /** Sets the gradient to zero, where it lives (on a device, as the class comment says). */
    public void zeroGrad() {
        if (device != null) {
            gradZeroPending.set(true);
        } else {
            Arrays.fill(grad.data(), 0f);
        }
    }

    /**
     * Moves value and grad to where backend computes (a no-op for host backends), so that layers running there
     * read the weight and accumulate its gradient without copies, the gradient in F32. Host optimizers need them
     * back: see {@link #moveToHost}.
     */
    public void moveTo(Backend backend) {
        moveTo(backend, DType.F32);
    }

    /**
     * {@link #moveTo(Backend)}, keeping the gradient on the device in gradDType: F32, or BF16, the precision in which
     * PyTorch's autocast computes weight gradients before it widens them into F32 {@code .grad} tensors. Each product
     * or sum that makes the gradient still adds in F32 and rounds once to BF16; what BF16 saves is bytes: the
     * optimizer and the gradient norm read two per weight instead of four, and the gradients take half the memory.
     * Under gradient accumulation each micro-batch's sum is rounded again, so keep F32 there. On the host gradients
     * stay F32 whatever gradDType says.
     */
    public void moveTo(Backend backend, DType gradDType) {
        Tensor v = backend.toDevice(value);
        if (v.isOnDevice()) {
            Tensor g = grad();
            if (g.dtype() != gradDType) {
                g = (g.isOnDevice() ? device.toHost(g) : g).to(gradDType);
            }
            grad = backend.toDevice(g);
            value = v;
            device = backend;
            markChanged();
        }
    }

    /** Copies value and grad back to the host, if they are on a device; the gradient comes back in F32. */
    public void moveToHost() {
        if (device != null) {
            value = device.toHost(value);
            Tensor g = device.toHost(grad());
            grad = g.dtype() == DType.F32 ? g : g.to(DType.F32);
            device = null;
            markChanged();
        }
    }

    @Override
    public String toString() {
        return "Parameter(" + name() + ", " + Arrays.toString(value.shape()) + ")";
    }
}
