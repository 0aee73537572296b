package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo refuses bad arguments before it trains, each with one line on stderr and exit code 2. */
class DemoArgumentsTest {
    /** The demo makes its --backend the program's default: put back the one the other tests run on. */
    private final Backend backendBefore = Backends.current();

    @AfterEach
    void restoreTheBackend() {
        Backends.use(backendBefore);
    }
    /** A run small enough for a test: two recipes of a tiny model. */
    private static final String[] TINY = {"--batch", "2", "--width", "8", "--hidden", "8", "--blocks", "1",
        "--eval-windows", "4", "--recipes", "tensorwise"};

    @TempDir
    Path dir;

    private record Outcome(int exitCode, String err) {
    }

    private Outcome demo(String... args) {
        StringWriter err = new StringWriter();
        int code = Demo.execute(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
        return new Outcome(code, err.toString());
    }

    /** TINY with some options added or replaced, given as option, value pairs. */
    private static String[] tinyWith(String... optionsAndValues) {
        Map<String, String> options = new LinkedHashMap<>();
        for (String[] pairs : new String[][] {TINY, optionsAndValues}) {
            for (int i = 0; i < pairs.length; i += 2) {
                options.put(pairs[i], pairs[i + 1]);
            }
        }
        List<String> all = new ArrayList<>();
        options.forEach((option, value) -> all.addAll(List.of(option, value)));
        return all.toArray(String[]::new);
    }

    private void assertRefused(Outcome o, String... mentions) {
        assertEquals(2, o.exitCode(), o.err());
        assertEquals(1, o.err().lines().count(), "one line: " + o.err());
        for (String m : mentions) {
            assertTrue(o.err().contains(m), "'" + m + "' in: " + o.err());
        }
    }

    @Test
    void oneStepTrains() throws IOException {
        Path out = dir.resolve("reports");
        Outcome o = demo(tinyWith("--steps", "1", "--out", out.toString()));
        assertEquals(0, o.exitCode(), o.err());
        try (Stream<Path> runs = Files.list(out)) {
            assertTrue(Files.exists(runs.findFirst().orElseThrow().resolve("results.md")));
        }
    }

    @Test
    void countsOutsideTheirRangeAreRefusedWithTheRange() {
        assertRefused(demo(tinyWith("--steps", "0", "--out", dir.toString())), "--steps", "0", "1");
        assertRefused(demo(tinyWith("--steps", "2000000000", "--out", dir.toString())), "--steps", "1,000,000");
        assertRefused(demo(tinyWith("--eval-windows", "0", "--out", dir.toString())), "--eval-windows", "0");
        assertRefused(demo(tinyWith("--batch", "-1", "--out", dir.toString())), "--batch");
        assertRefused(demo(tinyWith("--stats-steps", "-1", "--out", dir.toString())), "--stats-steps");
        assertRefused(demo(tinyWith("--blocks", "-1", "--out", dir.toString())), "--blocks");
        assertRefused(demo(tinyWith("--lr", "NaN", "--out", dir.toString())), "--lr", "NaN");
        assertRefused(demo(tinyWith("--lr", "0", "--out", dir.toString())), "--lr");
        assertRefused(demo(tinyWith("--steps", "x", "--out", dir.toString())), "--steps", "x");
        assertFalse(Files.exists(dir.resolve("reports")));
    }

    @Test
    void absurdSizesAreRefusedWithTheLimitInsteadOfRunningOutOfMemory() {
        assertRefused(demo(tinyWith("--width", "2000000000", "--out", dir.toString())), "--width", "65,536");
        assertRefused(demo(tinyWith("--context", "1000000", "--out", dir.toString())), "--context", "4,096");
        // each within its range, together far beyond any heap: a 65536 x 262144 activation has 2^34 elements
        assertRefused(demo(tinyWith("--batch", "65536", "--hidden", "262144", "--out", dir.toString())), "--hidden",
                "--batch");
        assertRefused(demo(tinyWith("--width", "32768", "--hidden", "32768", "--blocks", "8", "--out", dir.toString())),
                "GiB", "-Xmx");
    }

    @Test
    void aContextLongerThanTheValidationTextIsRefused() throws IOException {
        Path text = dir.resolve("text.txt");
        Files.writeString(text, "abcdefghij".repeat(100)); // 1000 characters: 100 for validation
        assertRefused(demo(tinyWith("--data", text.toString(), "--context", "150", "--out", dir.toString())), "--context",
                "150", "100");
    }

    @Test
    void anOutputFolderThatCannotBeCreatedIsRefusedBeforeTraining() throws IOException {
        Path file = dir.resolve("a-file");
        Files.writeString(file, "not a folder");
        Outcome o = demo(tinyWith("--steps", "400", "--out", file.resolve("reports").toString()));
        assertRefused(o, "--out", file.resolve("reports").toString());
    }

    @Test
    void unknownOptionsAndBackendsAreOneLine() {
        assertRefused(demo("--no-such-option"), "--no-such-option");
        assertRefused(demo(tinyWith("--backend", "abacus", "--out", dir.toString())), "--backend", "abacus");
    }
}
