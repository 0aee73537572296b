package dev.float8j.runtime.train;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Weights only, by parameter name, in a safetensors file (see {@link SafeTensors}): no optimizer state and no FP8
 * plan to match, so weights trained with one plan load into a model with another, e.g. FP8-trained weights into a
 * high-precision model for inference, or into PyTorch. For resuming training, use {@link Checkpoint}.
 *
 * <p>The file's metadata records each linear layer's plan ({@code float8j.plan.NAME}) for information only. Vectors
 * (biases, norm gains, [1, n] here) are stored as [n], PyTorch's shape for them.
 */
public final class Weights {
    private Weights() {
    }

    /** Saves every parameter of model as F32. */
    public static void save(Module model, Path file) throws IOException {
        save(model, file, DType.F32);
    }

    /** Saves every parameter of model as F32 or BF16 (rounded to nearest even), for export. */
    public static void save(Module model, Path file, DType dtype) throws IOException {
        Map<String, SafeTensors.StoredTensor> tensors = new LinkedHashMap<>();
        for (Parameter p : model.namedParameters().values()) {
            requireHost(p, "save");
            tensors.put(p.name(), new SafeTensors.StoredTensor("F32", storedShape(p.value().shape()), p.value().data()));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("float8j.dtype", dtype.toString());
        for (Module m : model.modules()) {
            if (m instanceof Linear l) {
                metadata.put("float8j.plan." + l.name(), l.float8Plan());
            }
        }
        SafeTensors.write(file, tensors, dtype, metadata);
    }

    /**
     * Loads weights saved by {@link #save} (or any safetensors file of F32 or BF16 tensors named as the model's
     * parameters). Every parameter of the model must be in the file and every tensor of the file in the model, with
     * the same shape; all is checked before anything is copied, so a mismatch changes nothing.
     *
     * @return the file's metadata
     * @throws CheckpointException naming the parameters that are missing, extra or of another shape
     */
    public static Map<String, String> load(Module model, Path file) throws IOException {
        SafeTensors.Contents contents = SafeTensors.read(file);
        Map<String, Parameter> params = model.namedParameters();
        TreeSet<String> missing = new TreeSet<>(params.keySet());
        missing.removeAll(contents.tensors().keySet());
        TreeSet<String> extra = new TreeSet<>(contents.tensors().keySet());
        extra.removeAll(params.keySet());
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new CheckpointException(file + " does not fit the model: "
                    + (missing.isEmpty() ? "" : "parameters missing from the file " + missing)
                    + (missing.isEmpty() || extra.isEmpty() ? "" : "; ")
                    + (extra.isEmpty() ? "" : "tensors the model has no parameter for " + extra));
        }
        for (Parameter p : params.values()) {
            requireHost(p, "load");
            int[] stored = contents.tensors().get(p.name()).shape();
            if (!Arrays.equals(stored, p.value().shape()) && !Arrays.equals(stored, storedShape(p.value().shape()))) {
                throw new CheckpointException(file + " does not fit the model: parameter " + p.name() + " has shape "
                        + Arrays.toString(p.value().shape()) + " in the model and " + Arrays.toString(stored) + " in the file");
            }
        }
        for (Parameter p : params.values()) {
            float[] values = contents.tensors().get(p.name()).values();
            System.arraycopy(values, 0, p.value().data(), 0, values.length);
            p.markChanged();
        }
        return contents.metadata();
    }

    /**
     * The shape a parameter is stored under: a vector held as [1, n] here (a bias, a norm's gain) is [n], as PyTorch's
     * nn.Linear and RMSNorm hold it, so the file loads there as it is; matrices keep their shape. Loading accepts both.
     */
    private static int[] storedShape(int[] shape) {
        return shape.length == 2 && shape[0] == 1 ? new int[] {shape[1]} : shape;
    }

    private static void requireHost(Parameter p, String what) {
        if (p.value().isOnDevice()) {
            throw new IllegalStateException("cannot " + what + " " + p.name() + ": it lives on a device; call"
                    + " model.moveToHost() first");
        }
    }
}
