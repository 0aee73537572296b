package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaDemoTest {

    @Test
    void theJdkSourcesAreByteTokensWithTheNextByteAsTarget() throws Exception {
        assumeTrue(Files.isRegularFile(Path.of(System.getProperty("java.home"), "lib", "src.zip")),
                "this JDK has no lib/src.zip");
        ByteText text = ByteText.jdkSources("java.base/java/util/", 50_000);
        assertTrue(text.description().startsWith("50,000 bytes of "), text.description());
        int[][] b = text.trainingBatch(3, 16, 1, 0);
        assertEquals(48, b[0].length);
        for (int row = 0; row < 3; row++) {
            for (int s = 0; s + 1 < 16; s++) {
                assertEquals(b[0][row * 16 + s + 1], b[1][row * 16 + s], "the target is the next byte");
            }
        }
        for (int token : b[0]) {
            assertTrue(token >= 0 && token < ByteText.VOCABULARY);
        }
        assertEquals(List.of(b[0][0], b[1][5]), List.of(text.trainingBatch(3, 16, 1, 0)[0][0],
                text.trainingBatch(3, 16, 1, 0)[1][5]), "batches depend on seed and step only");
    }

    @Test
    void aTinyRunWritesTheReport(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("text.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; sb.length() < 20_000; i++) {
            sb.append("line ").append(i % 97).append(": the quick brown fox\n");
        }
        Files.writeString(data, sb, StandardCharsets.UTF_8);
        Backend before = Backends.current();
        try {
            int exit = LlamaDemo.main(new String[] {"--model", "llama", "--data", data.toString(), "--backend", "reference",
                "--steps", "3", "--batch", "2", "--seq", "16", "--dim", "16", "--heads", "2", "--kv-heads", "1", "--ffn", "32",
                "--recipes", "tensorwise", "--eval-batches", "1", "--out", dir.resolve("reports").toString()});
            assertEquals(0, exit);
        } finally {
            Backends.use(before);
        }
        Path folder;
        try (Stream<Path> s = Files.list(dir.resolve("reports"))) {
            folder = s.findFirst().orElseThrow();
        }
        List<String> csv = Files.readAllLines(folder.resolve("results.csv"));
        assertEquals(3, csv.size(), csv.toString());
        assertTrue(csv.get(1).startsWith("hp,") && csv.get(2).startsWith("tensorwise,"), csv.toString());
        assertTrue(Files.readString(folder.resolve("results.md")).contains("| tensorwise |"));
    }
}
