package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * A training checkpoint: every parameter by name and shape, the FP8 plan of every linear layer, the
 * optimizer's state, the step, and free-form metadata (seeds, data position, settings).
 *
 * <p>File layout: the magic {@code F8JCKPT1}, the body length, the body, and a CRC-32C of the body.
 * {@link #load} reads and checks the whole file, then checks every name, shape and plan against the
 * model and optimizer, and only then copies anything: a damaged or mismatched checkpoint changes nothing.
 *
 * <p>Parameters and optimizer state on a device (a model moved with {@code module.moveTo(backend)}) are copied to
 * the host to be saved, and loaded back into the same device tensors; the file is the same either way.
 */
public record Checkpoint(long step, Map<String, String> metadata, Map<String, ParameterRecord> parameters,
        Map<String, String> plans, String optimizerKind, long optimizerSteps, Map<String, float[]> optimizerState) {

    private static final byte[] MAGIC = "F8JCKPT1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    /** One parameter's shape and values. */
    public record ParameterRecord(int[] shape, float[] values) {
    }

    /**
     * Writes the state of model and optimizer after step completed steps, atomically and durably: to {@code file.tmp},
     * forced to disk, renamed over file, and the folder forced (see {@link AtomicFile}). A failed save leaves no temp
     * file and any earlier checkpoint at file as it was; its IOException names the file.
     */
    public static void save(Path file, Module model, Optimizer optimizer, long step, Map<String, String> metadata)
            throws IOException {
        ByteArrayOutputStream bodyBytes = new ByteArrayOutputStream();
        DataOutputStream body = new DataOutputStream(bodyBytes);
        body.writeLong(step);
        body.writeInt(metadata.size());
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            body.writeUTF(e.getKey());
            body.writeUTF(e.getValue());
        }
        Map<String, Parameter> params = model.namedParameters();
        body.writeInt(params.size());
        for (Parameter p : params.values()) {
            body.writeUTF(p.name());
            int[] shape = p.value().shape();
            body.writeInt(shape.length);
            for (int d : shape) {
                body.writeInt(d);
            }
            writeFloats(body, p.toHost(p.value()).data());
        }
        Map<String, String> plans = plansOf(model);
        body.writeInt(plans.size());
        for (Map.Entry<String, String> e : plans.entrySet()) {
            body.writeUTF(e.getKey());
            body.writeUTF(e.getValue());
        }
        body.writeUTF(optimizer.kind());
        body.writeLong(optimizer.steps());
        Map<String, float[]> state = optimizer.state();
        body.writeInt(state.size());
        for (Map.Entry<String, float[]> e : state.entrySet()) {
            body.writeUTF(e.getKey());
            writeFloats(body, e.getValue());
        }
        body.flush();
        byte[] content = bodyBytes.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(content);

        AtomicFile.write(file, stream -> {
            DataOutputStream out = new DataOutputStream(stream);
            out.write(MAGIC);
            out.writeLong(content.length);
            out.write(content);
            out.writeLong(crc.getValue());
            out.flush();
        }, AtomicFile.DISK);
    }

    /** Reads and verifies a checkpoint file without touching any model. */
    public static Checkpoint read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        int header = MAGIC.length + Long.BYTES;
        if (all.length < header + Long.BYTES || !Arrays.equals(Arrays.copyOf(all, MAGIC.length), MAGIC)) {
            throw new CheckpointException(file + " is not a float8j checkpoint (no F8JCKPT1 header)");
        }
        long length = ByteBuffer.wrap(all, MAGIC.length, Long.BYTES).getLong();
        if (length != all.length - header - Long.BYTES) {
            throw new CheckpointException(file + " is damaged: its header announces " + length + " bytes of content, the file holds "
                    + (all.length - header - Long.BYTES) + " (truncated or appended to?)");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, header, (int) length);
        long stored = ByteBuffer.wrap(all, header + (int) length, Long.BYTES).getLong();
        if (crc.getValue() != stored) {
            throw new CheckpointException(file + " is damaged: checksum " + Long.toHexString(crc.getValue())
                    + " does not match the stored " + Long.toHexString(stored));
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(all, header, (int) length))) {
            long step = in.readLong();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                metadata.put(in.readUTF(), in.readUTF());
            }
            Map<String, ParameterRecord> params = new LinkedHashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                String name = in.readUTF();
                int[] shape = new int[in.readInt()];
                for (int d = 0; d < shape.length; d++) {
                    shape[d] = in.readInt();
                }
                params.put(name, new ParameterRecord(shape, readFloats(in)));
            }
            Map<String, String> plans = new LinkedHashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                plans.put(in.readUTF(), in.readUTF());
            }
            String optimizerKind = in.readUTF();
            long optimizerSteps = in.readLong();
            Map<String, float[]> state = new LinkedHashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                state.put(in.readUTF(), readFloats(in));
            }
            return new Checkpoint(step, metadata, params, plans, optimizerKind, optimizerSteps, state);
        } catch (EOFException e) {
            throw new CheckpointException(file + " is damaged: its content ends early", e);
        }
    }

    /** Reads file, checks it against model and optimizer, then loads it into both; returns what was read. */
    public static Checkpoint load(Path file, Module model, Optimizer optimizer) throws IOException {
        Checkpoint c = read(file);
        c.checkFits(file, model, optimizer);
        c.copyInto(model, optimizer);
        return c;
    }

    private void checkFits(Path file, Module model, Optimizer optimizer) {
        Map<String, Parameter> params = model.namedParameters();
        if (!params.keySet().equals(parameters.keySet())) {
            throw new CheckpointException(file + " does not fit the model: parameters only in the checkpoint "
                    + difference(parameters.keySet(), params.keySet()) + ", only in the model "
                    + difference(params.keySet(), parameters.keySet()));
        }
        for (Parameter p : params.values()) {
            ParameterRecord r = parameters.get(p.name());
            if (!Arrays.equals(r.shape(), p.value().shape()) || r.values().length != p.value().size()) {
                throw new CheckpointException(file + " does not fit the model: " + p.name() + " has shape "
                        + Arrays.toString(r.shape()) + " in the checkpoint and " + Arrays.toString(p.value().shape())
                        + " in the model");
            }
        }
        Map<String, String> modelPlans = plansOf(model);
        if (!modelPlans.keySet().equals(plans.keySet())) {
            throw new CheckpointException(file + " does not fit the model: linear layers only in the checkpoint "
                    + difference(plans.keySet(), modelPlans.keySet()) + ", only in the model "
                    + difference(modelPlans.keySet(), plans.keySet()));
        }
        for (Map.Entry<String, String> e : modelPlans.entrySet()) {
            if (!e.getValue().equals(plans.get(e.getKey()))) {
                throw new CheckpointException(file + " does not fit the model: layer " + e.getKey() + " was saved with FP8 plan ["
                        + plans.get(e.getKey()) + "] but the model's is [" + e.getValue() + "]");
            }
        }
        if (!optimizer.kind().equals(optimizerKind)) {
            throw new CheckpointException(file + " was saved with optimizer " + optimizerKind + ", the run uses "
                    + optimizer.kind());
        }
        Map<String, float[]> current = optimizer.state();
        if (!current.keySet().equals(optimizerState.keySet())) {
            throw new CheckpointException(file + " does not fit the optimizer: state names differ");
        }
        for (Map.Entry<String, float[]> e : current.entrySet()) {
            if (e.getValue().length != optimizerState.get(e.getKey()).length) {
                throw new CheckpointException(file + " does not fit the optimizer: " + e.getKey() + " holds "
                        + optimizerState.get(e.getKey()).length + " values, the optimizer " + e.getValue().length);
            }
        }
    }

    private void copyInto(Module model, Optimizer optimizer) {
        for (Parameter p : model.namedParameters().values()) {
            p.copyFromHost(p.value(), parameters.get(p.name()).values());
            p.zeroGrad();
        }
        optimizer.loadState(optimizerState, optimizerSteps);
    }

    /** The FP8 plan of every linear layer in the model, by fully qualified name. */
    public static Map<String, String> plansOf(Module model) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Module m : model.modules()) {
            if (m instanceof Linear linear) {
                out.put(m.name(), linear.float8Plan());
            }
        }
        return out;
    }

    private static java.util.Set<String> difference(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> out = new java.util.TreeSet<>(a);
        out.removeAll(b);
        return out;
    }

    private static void writeFloats(DataOutputStream out, float[] values) throws IOException {
        out.writeInt(values.length);
        ByteBuffer buf = ByteBuffer.allocate(values.length * Float.BYTES);
        buf.asFloatBuffer().put(values);
        out.write(buf.array());
    }

    private static float[] readFloats(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > in.available() / Float.BYTES) {
            throw new CheckpointException("checkpoint is damaged: an array claims " + n + " values");
        }
        byte[] bytes = new byte[n * Float.BYTES];
        in.readFully(bytes);
        float[] out = new float[n];
        ByteBuffer.wrap(bytes).asFloatBuffer().get(out);
        return out;
    }
}
