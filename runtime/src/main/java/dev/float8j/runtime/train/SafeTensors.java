package dev.float8j.runtime.train;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.float8j.runtime.BFloat16;
import dev.float8j.runtime.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The safetensors file format of Hugging Face, which PyTorch ({@code safetensors.torch.load_file}) and the Hugging Face
 * tools read: an 8-byte little-endian header length, a JSON header mapping each tensor's name to its dtype, shape
 * and {@code data_offsets} [begin, end) into the data that follows, and the raw little-endian data. An optional
 * {@code __metadata__} entry holds string pairs. float8j writes F32 or BF16 and reads both (into F32).
 */
public final class SafeTensors {
    /** The largest header this reader accepts, as the reference implementation does: 100 MB. */
    private static final long MAX_HEADER = 100_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor as read: its stored dtype ("F32" or "BF16"), shape and values widened to F32. */
    public record StoredTensor(String dtype, int[] shape, float[] values) {
    }

    /** What a file holds: tensors by name in file order, and the metadata. */
    public record Contents(Map<String, StoredTensor> tensors, Map<String, String> metadata) {
    }

    private SafeTensors() {
    }

    /**
     * Writes tensors (F32 values by name, in map order) as dtype F32 or BF16 (rounded to nearest even), with
     * metadata; atomically, through a temporary file. The header is padded with spaces to a multiple of 8 bytes, so
     * the data starts aligned.
     */
    public static void write(Path file, Map<String, StoredTensor> tensors, DType dtype, Map<String, String> metadata)
            throws IOException {
        if (dtype != DType.F32 && dtype != DType.BF16) {
            throw new IllegalArgumentException("safetensors export writes F32 or BF16, not " + dtype);
        }
        int elementBytes = dtype == DType.F32 ? 4 : 2;
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, StoredTensor> e : tensors.entrySet()) {
            StoredTensor t = e.getValue();
            if (e.getKey().equals("__metadata__")) {
                throw new IllegalArgumentException("a tensor cannot be named __metadata__");
            }
            if (t.values().length != elements(t.shape())) {
                throw new IllegalArgumentException(e.getKey() + ": " + t.values().length + " values for shape "
                        + Arrays.toString(t.shape()));
            }
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", dtype == DType.F32 ? "F32" : "BF16");
            ArrayNode shape = entry.putArray("shape");
            for (int d : t.shape()) {
                shape.add(d);
            }
            long end = offset + (long) t.values().length * elementBytes;
            entry.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        prefix.flip();

        Path absolute = file.toAbsolutePath();
        if (absolute.getParent() != null) {
            Files.createDirectories(absolute.getParent());
        }
        Path tmp = absolute.resolveSibling(absolute.getFileName() + ".tmp");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(out, prefix);
            for (StoredTensor t : tensors.values()) {
                ByteBuffer data = ByteBuffer.allocate(t.values().length * elementBytes).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : t.values()) {
                    if (dtype == DType.F32) {
                        data.putFloat(v);
                    } else {
                        data.putShort(BFloat16.fromFloat(v));
                    }
                }
                data.flip();
                writeFully(out, data);
            }
        }
        Files.move(tmp, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads and checks a whole file: header, every entry's dtype, shape and offsets, and that the data covers them. */
    public static Contents read(Path file) throws IOException {
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = in.size();
            if (size < 8) {
                throw new CheckpointException(file + " is not a safetensors file: " + size + " bytes, less than the 8-byte header length");
            }
            ByteBuffer lengthBytes = readFully(in, 0, 8, file);
            long headerLength = lengthBytes.order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER || headerLength > size - 8) {
                throw new CheckpointException(file + " is not a safetensors file: its header length " + headerLength
                        + " does not fit a file of " + size + " bytes");
            }
            ByteBuffer headerBytes = readFully(in, 8, (int) headerLength, file);
            JsonNode header;
            try {
                header = JSON.readTree(StandardCharsets.UTF_8.decode(headerBytes).toString());
            } catch (JacksonException e) {
                throw new CheckpointException(file + " has a header that is not valid JSON: " + e.getOriginalMessage(), e);
            }
            if (header == null || !header.isObject()) {
                throw new CheckpointException(file + " has a header that is not a JSON object");
            }
            long dataStart = 8 + headerLength;
            long dataLength = size - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, StoredTensor> tensors = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), readTensor(in, file, e.getKey(), e.getValue(), dataStart, dataLength));
            }
            return new Contents(tensors, metadata);
        }
    }

    private static StoredTensor readTensor(FileChannel in, Path file, String name, JsonNode entry, long dataStart,
            long dataLength) throws IOException {
        String dtype = entry.path("dtype").asText("");
        int elementBytes = switch (dtype) {
            case "F32" -> 4;
            case "BF16" -> 2;
            default -> throw new CheckpointException(file + ": tensor " + name + " has dtype '" + dtype
                    + "'; float8j reads F32 and BF16");
        };
        JsonNode shapeNode = entry.path("shape");
        JsonNode offsets = entry.path("data_offsets");
        if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
            throw new CheckpointException(file + ": tensor " + name + " needs a shape array and two data_offsets");
        }
        int[] shape = new int[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToInt() || d.asInt() < 0) {
                throw new CheckpointException(file + ": tensor " + name + " has shape " + shapeNode);
            }
            shape[i] = d.asInt();
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        long elements = elements(shape);
        if (begin < 0 || end < begin || end > dataLength || end - begin != elements * elementBytes
                || elements > Integer.MAX_VALUE) {
            throw new CheckpointException(file + ": tensor " + name + " of shape " + Arrays.toString(shape) + " and dtype "
                    + dtype + " has data_offsets [" + begin + ", " + end + ") that do not fit its size or the "
                    + dataLength + " data bytes");
        }
        ByteBuffer data = readFully(in, dataStart + begin, (int) (end - begin), file).order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[(int) elements];
        for (int i = 0; i < values.length; i++) {
            values[i] = elementBytes == 4 ? data.getFloat() : BFloat16.toFloat(data.getShort());
        }
        return new StoredTensor(dtype, shape, values);
    }

    private static long elements(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    private static ByteBuffer readFully(FileChannel in, long position, int length, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        while (b.hasRemaining()) {
            if (in.read(b, position + b.position()) < 0) {
                throw new CheckpointException(file + " ends early");
            }
        }
        return b.flip();
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }
}
