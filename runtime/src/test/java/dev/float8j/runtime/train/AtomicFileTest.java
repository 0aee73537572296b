package dev.float8j.runtime.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
    @TempDir
    Path dir;

    /** Records what was on disk each time the file or its folder was forced. */
    private static final class Recorder implements AtomicFile.Durability {
        final List<String> events = new ArrayList<>();
        final Path target;

        Recorder(Path target) {
            this.target = target;
        }

        @Override
        public void force(FileChannel file) throws IOException {
            events.add("file forced with " + file.size() + " bytes, target " + (Files.exists(target) ? "present" : "absent"));
        }

        @Override
        public void forceDirectory(Path folder) throws IOException {
            events.add("folder " + folder.getFileName() + " forced, target holds " + Files.size(target) + " bytes");
        }
    }

    @Test
    void theWholeFileIsForcedBeforeTheRenameAndTheFolderAfterIt() throws IOException {
        Path target = dir.resolve("ckpt");
        Recorder recorder = new Recorder(target);
        byte[] content = new byte[1000];
        content[999] = 7;
        AtomicFile.write(target, out -> out.write(content), recorder);
        assertEquals(List.of("file forced with 1000 bytes, target absent",
                "folder " + dir.getFileName() + " forced, target holds 1000 bytes"), recorder.events);
        assertArrayEquals(content, Files.readAllBytes(target));
    }

    @Test
    void theDiskDurabilityForcesARealFileAndFolder() throws IOException {
        Path target = dir.resolve("ckpt");
        AtomicFile.write(target, out -> out.write(new byte[] {1, 2, 3}), AtomicFile.DISK);
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList(), "no temp file left");
        }
    }
    @Test
    void aWriteThatFailsHalfwayLeavesTheOldFileAndNoTempFile() throws IOException {
        Path target = dir.resolve("ckpt");
        Files.write(target, new byte[] {9});
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> AtomicFile.write(target,
                out -> {
                    out.write(new byte[100_000]);
                    throw new IOException("No space left on device");
                }, AtomicFile.DISK));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("could not write " + target)
                && e.getMessage().contains("No space left on device"), e.getMessage());
        assertArrayEquals(new byte[] {9}, Files.readAllBytes(target));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList(), "no temp file left");
        }
    }
}
