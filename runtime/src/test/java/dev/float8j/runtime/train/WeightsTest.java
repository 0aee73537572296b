package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.nn.Sequential;
import dev.float8j.plan.Float8Plan;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightsTest {
    @TempDir
    Path dir;

    private static Sequential fp8Model() {
        Init.seed(5);
        return new Sequential(new Float8Linear(3, 2, Float8Plan.rowwise()), new Linear(2, 4));
    }

    private static Sequential highPrecisionModel() {
        Init.seed(6);
        return new Sequential(new Linear(3, 2), new Linear(2, 4));
    }

    /** The file as the format describes it, parsed here without float8j's reader. */
    private record Parsed(JsonNode header, ByteBuffer data) {
    }

    private static Parsed parse(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode header = new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        return new Parsed(header, ByteBuffer.wrap(all, 8 + (int) n, all.length - 8 - (int) n).slice()
                .order(ByteOrder.LITTLE_ENDIAN));
    }

    @Test
    void f32FileFollowsTheSafetensorsLayout() throws IOException {
        Sequential model = fp8Model();
        Path file = dir.resolve("w.safetensors");
        Weights.save(model, file);
        Parsed p = parse(file);
        assertEquals(0, (Files.size(file) - p.data().remaining()) % 8, "data starts 8-byte aligned");
        assertEquals("pt", p.header().get("__metadata__").get("format").asText());
        assertEquals(Float8Plan.rowwise().toString(), p.header().get("__metadata__").get("float8j.plan.0").asText());
        long expectedOffset = 0;
        for (String name : List.of("0.weight", "1.weight")) {
            JsonNode e = p.header().get(name);
            float[] values = model.namedParameters().get(name).value().data();
            int[] shape = model.namedParameters().get(name).value().shape();
            assertEquals("F32", e.get("dtype").asText());
            assertEquals(List.of(shape[0], shape[1]), List.of(e.get("shape").get(0).asInt(), e.get("shape").get(1).asInt()));
            assertEquals(expectedOffset, e.get("data_offsets").get(0).asLong());
            assertEquals(expectedOffset + 4L * values.length, e.get("data_offsets").get(1).asLong());
            for (int i = 0; i < values.length; i++) {
                assertEquals(Float.floatToRawIntBits(values[i]), p.data().getInt((int) expectedOffset + 4 * i));
            }
            expectedOffset += 4L * values.length;
        }
        assertEquals(expectedOffset, p.data().remaining(), "the data holds exactly the tensors");
    }

    @Test
    void vectorsAreStoredOneDimensionalAsPyTorchHoldsThem() throws IOException {
        // a bias and a norm gain are [1, n] here but [n] in PyTorch's nn.Linear and RMSNorm
        Sequential model = new Sequential(new Linear(3, 4, true), new RMSNorm(4));
        Path file = dir.resolve("vectors.safetensors");
        Weights.save(model, file);
        Parsed p = parse(file);
        for (String name : List.of("0.bias", "1.weight")) {
            JsonNode shape = p.header().get(name).get("shape");
            assertEquals(1, shape.size(), name + " is stored as " + shape);
            assertEquals(4, shape.get(0).asInt(), name);
        }
        assertEquals(2, p.header().get("0.weight").get("shape").size(), "matrices keep both dimensions");

        Sequential copy = new Sequential(new Linear(3, 4, true), new RMSNorm(4));
        Weights.load(copy, file);
        for (String name : List.of("0.weight", "0.bias", "1.weight")) {
            assertArrayEquals(model.namedParameters().get(name).value().data(), copy.namedParameters().get(name).value().data(),
                    name);
        }
    }

    @Test
    void bf16ExportRoundsToNearestEven() throws IOException {
        Linear layer = new Linear(4, 1);
        // 1.5 and -0.25 are exact; 1+2^-8 lies halfway between bf16 1.0 and 1+2^-7 (ties to even: 1.0);
        // 1+2^-8+2^-9 is above halfway (rounds up to 1+2^-7)
        float[] values = {1.5f, -0.25f, 1.00390625f, 1.005859375f};
        System.arraycopy(values, 0, layer.weight().value().data(), 0, 4);
        Sequential model = new Sequential(layer);
        Path file = dir.resolve("bf16.safetensors");
        Weights.save(model, file, DType.BF16);
        Parsed p = parse(file);
        assertEquals("BF16", p.header().get("0.weight").get("dtype").asText());
        assertEquals(8, p.header().get("0.weight").get("data_offsets").get(1).asLong());
        short[] expected = {(short) 0x3FC0, (short) 0xBE80, (short) 0x3F80, (short) 0x3F81};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], p.data().getShort(2 * i), "element " + i);
        }
        Linear back = new Linear(4, 1);
        Weights.load(new Sequential(back), file);
        assertArrayEquals(new float[] {1.5f, -0.25f, 1f, 1.0078125f}, back.weight().value().data());
    }

    @Test
    void fp8TrainedWeightsLoadIntoAHighPrecisionModelForInference() throws IOException {
        Sequential fp8 = fp8Model();
        Init.seed(8);
        Tensor x = Tensor.of(Init.normal(5 * 3, 1f), 5, 3);
        Tensor y = fp8.forward(x);
        fp8.backward(Tensor.of(Init.normal(y.size(), 1f), y.shape()));
        new Sgd(fp8.parameters(), 0.1, 0, 0).step();
        Path file = dir.resolve("trained.safetensors");
        Weights.save(fp8, file);

        Sequential hp = highPrecisionModel();
        Map<String, String> metadata = Weights.load(hp, file);
        assertEquals(Float8Plan.rowwise().toString(), metadata.get("float8j.plan.0"));
        for (String name : List.of("0.weight", "1.weight")) {
            assertArrayEquals(fp8.namedParameters().get(name).value().data(), hp.namedParameters().get(name).value().data(), name);
        }
    }

    @Test
    void mismatchesNameTheParametersAndChangeNothing() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Weights.save(fp8Model(), file);

        Sequential wrongShape = new Sequential(new Linear(3, 2), new Linear(2, 5));
        float[] before = wrongShape.namedParameters().get("0.weight").value().data().clone();
        CheckpointException shape = assertThrows(CheckpointException.class, () -> Weights.load(wrongShape, file));
        assertTrue(shape.getMessage().endsWith("parameter 1.weight has shape [5, 2] in the model and [4, 2] in the file"),
                shape.getMessage());
        assertArrayEquals(before, wrongShape.namedParameters().get("0.weight").value().data(), "nothing was copied");

        Sequential moreLayers = new Sequential(new Linear(3, 2), new Linear(2, 4), new Linear(4, 4));
        CheckpointException missing = assertThrows(CheckpointException.class, () -> Weights.load(moreLayers, file));
        assertTrue(missing.getMessage().endsWith("parameters missing from the file [2.weight]"), missing.getMessage());

        Sequential fewer = new Sequential(new Linear(3, 2));
        CheckpointException extra = assertThrows(CheckpointException.class, () -> Weights.load(fewer, file));
        assertTrue(extra.getMessage().endsWith("tensors the model has no parameter for [1.weight]"), extra.getMessage());
    }

    @Test
    void damagedFilesAndForeignDtypesAreRefusedClearly() throws IOException {
        Path tooLong = dir.resolve("long.safetensors");
        Files.write(tooLong, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(tooLong));
        assertTrue(e.getMessage().contains("header length 1000 does not fit a file of 16 bytes"), e.getMessage());

        Path int64 = dir.resolve("i64.safetensors");
        byte[] json = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}".getBytes(StandardCharsets.UTF_8);
        Files.write(int64, ByteBuffer.allocate(8 + json.length + 8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length)
                .put(json).array());
        CheckpointException dtype = assertThrows(CheckpointException.class, () -> SafeTensors.read(int64));
        assertTrue(dtype.getMessage().endsWith("tensor ids has dtype 'I64'; float8j reads F32 and BF16"), dtype.getMessage());

        Path shortData = dir.resolve("short.safetensors");
        byte[] f32 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}".getBytes(StandardCharsets.UTF_8);
        Files.write(shortData, ByteBuffer.allocate(8 + f32.length + 12).order(ByteOrder.LITTLE_ENDIAN).putLong(f32.length)
                .put(f32).array());
        CheckpointException offsets = assertThrows(CheckpointException.class, () -> SafeTensors.read(shortData));
        assertTrue(offsets.getMessage().contains("data_offsets [0, 16) that do not fit"), offsets.getMessage());
    }
}
