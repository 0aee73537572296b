package dev.float8j.samples;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Text as byte-level tokens (vocabulary 256, nothing to learn or download): by default the Java sources of the
 * running JDK's own {@code lib/src.zip}, read straight from the archive. The first 90% is for training, the rest
 * for validation; batches are windows drawn from the seed and the step, so every run sees the same ones.
 */
final class ByteText {
    static final int VOCABULARY = 256;
    private final String description;
    private final byte[] bytes;
    private final int trainEnd;

    private ByteText(String description, byte[] bytes) {
        if (bytes.length < 10_000) {
            throw new IllegalArgumentException(description + " holds " + bytes.length + " bytes; need at least 10,000");
        }
        this.description = description;
        this.bytes = bytes;
        this.trainEnd = (int) (bytes.length * 0.9);
    }

    /**
     * The .java files under prefix in the JDK's lib/src.zip, in name order, each from its package line on (the
     * license header repeats in every file), until maxBytes.
     */
    static ByteText jdkSources(String prefix, int maxBytes) throws IOException {
        Path zip = Path.of(System.getProperty("java.home"), "lib", "src.zip");
        if (!Files.isRegularFile(zip)) {
            throw new IOException("this JDK has no source archive at " + zip + " (some JDK packages leave it out); pass"
                    + " --data FILE to train on a text file instead");
        }
        try (ZipFile archive = new ZipFile(zip.toFile())) {
            List<? extends ZipEntry> entries = archive.stream()
                    .filter(e -> e.getName().startsWith(prefix) && e.getName().endsWith(".java"))
                    .sorted(Comparator.comparing(ZipEntry::getName)).toList();
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            int files = 0;
            for (ZipEntry e : entries) {
                if (out.size() >= maxBytes) {
                    break;
                }
                byte[] source;
                try (InputStream in = archive.getInputStream(e)) {
                    source = in.readAllBytes();
                }
                int from = new String(source, StandardCharsets.ISO_8859_1).indexOf("package ");
                out.write(source, Math.max(0, from), Math.min(source.length - Math.max(0, from), maxBytes - out.size()));
                files++;
            }
            if (files == 0) {
                throw new IOException(zip + " holds no .java files under " + prefix);
            }
            return new ByteText(String.format(java.util.Locale.ROOT, "%,d bytes of %d Java sources under %s in %s (JDK %s)",
                    out.size(), files, prefix, zip, Runtime.version()), out.toByteArray());
        }
    }

    /** A file's bytes. */
    static ByteText file(Path file) throws IOException {
        return new ByteText(file.toString(), Files.readAllBytes(file));
    }

    String description() {
        return description;
    }

    /** Inputs and next-byte targets of batch windows of seq tokens from the training part, fixed by seed and step. */
    int[][] trainingBatch(int batch, int seq, long seed, long step) {
        SplittableRandom random = new SplittableRandom(seed * 1_000_003L + step);
        int[] starts = new int[batch];
        for (int b = 0; b < batch; b++) {
            starts[b] = random.nextInt(trainEnd - seq - 1);
        }
        return windows(starts, seq);
    }

    /** count windows spread evenly over the validation part. */
    List<int[][]> validationBatches(int count, int batch, int seq) {
        int span = bytes.length - trainEnd - seq - 1;
        if (span <= 0) {
            throw new IllegalArgumentException("the validation text is shorter than one sequence of " + seq);
        }
        List<int[][]> out = new ArrayList<>();
        int windows = count * batch;
        for (int i = 0; i < count; i++) {
            int[] starts = new int[batch];
            for (int b = 0; b < batch; b++) {
                starts[b] = trainEnd + (int) ((long) span * (i * batch + b) / windows);
            }
            out.add(windows(starts, seq));
        }
        return out;
    }

    private int[][] windows(int[] starts, int seq) {
        int[] inputs = new int[starts.length * seq];
        int[] targets = new int[inputs.length];
        for (int b = 0; b < starts.length; b++) {
            for (int s = 0; s < seq; s++) {
                inputs[b * seq + s] = bytes[starts[b] + s] & 0xFF;
                targets[b * seq + s] = bytes[starts[b] + s + 1] & 0xFF;
            }
        }
        return new int[][] {inputs, targets};
    }
}
