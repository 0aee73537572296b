package dev.float8j.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressAndThroughputTest {

    @Test
    void throughputCountsEveryStepUntilTheMiddleThenTheLaterHalfOnly() {
        Throughput t = new Throughput(4, 100);
        t.add(1_000_000_000L);
        t.add(1_000_000_000L);
        assertEquals(100.0, t.tokensPerSecond(), 1e-9);  // 200 tokens in 2 s
        t.add(2_000_000_000L);
        t.add(2_000_000_000L);
        assertEquals(50.0, t.tokensPerSecond(), 1e-9);   // later half: 200 tokens in 4 s
        assertEquals(6.0, t.seconds(), 1e-9);
    }

    @Test
    void withoutATerminalTheBarPrintsTenPlainLinesAndNoControlCharacters() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), "hp", 95, false);
        for (int done = 1; done <= 95; done++) {
            bar.update(done, 1.5f, 1234);
        }
        bar.finish("val 1.0000  3s");
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertFalse(out.chars().anyMatch(c -> c < 0x20 && c != '\n'), "control characters in: " + out);
        String[] lines = out.split("\n");
        assertEquals(11, lines.length, out);
        assertTrue(lines[9].contains("95/95") && lines[9].contains("1,234 tok/s"), lines[9]);
        assertTrue(lines[10].startsWith("hp") && lines[10].endsWith("val 1.0000  3s"), lines[10]);
    }

    @Test
    void onATerminalTheBarRedrawsOneLine() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), "hp", 3, true);
        bar.update(3, 1.5f, 10);
        bar.finish("done");
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("\rhp"), out);
        assertEquals(1, out.split("\n").length);
    }
}
