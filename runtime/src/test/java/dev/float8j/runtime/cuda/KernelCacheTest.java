package dev.float8j.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The on-disk cache of compiled kernels: its key, and that a failure to read or write only means compiling. */
class KernelCacheTest {
    static final List<String> OPTIONS = List.of("--gpu-architecture=sm_90", "--std=c++17");
    static final Map<String, String> HEADERS = Map.of("common.cuh", "#pragma once\n");

    @TempDir
    Path dir;

    static String key(String compiler, List<String> options, String file, String source, Map<String, String> headers) {
        return KernelCache.key(compiler, options, file, source, headers);
    }

    @Test
    void theKeyChangesWithEveryInputThatDecidesTheCubin() {
        String base = key("NVRTC 13.0", OPTIONS, "cast.cu", "kernel text", HEADERS);
        assertEquals(base, key("NVRTC 13.0", OPTIONS, "cast.cu", "kernel text", HEADERS), "stable");
        assertEquals(64, base.length(), "a SHA-256 in hex");
        assertNotEquals(base, key("NVRTC 13.1", OPTIONS, "cast.cu", "kernel text", HEADERS), "compiler");
        assertNotEquals(base, key("NVRTC 13.0", List.of("--gpu-architecture=sm_100", "--std=c++17"), "cast.cu",
                "kernel text", HEADERS), "architecture");
        assertNotEquals(base, key("NVRTC 13.0", OPTIONS, "rope.cu", "kernel text", HEADERS), "file");
        assertNotEquals(base, key("NVRTC 13.0", OPTIONS, "cast.cu", "kernel text ", HEADERS), "source");
        assertNotEquals(base, key("NVRTC 13.0", OPTIONS, "cast.cu", "kernel text", Map.of("common.cuh", "#pragma once")),
                "a header's text");
        // parts are length-prefixed: moving text from one part to the next changes the key
        assertNotEquals(key("c", OPTIONS, "ab", "c", HEADERS), key("c", OPTIONS, "a", "bc", HEADERS));
    }

    @Test
    void aStoredCubinLoadsBackAndCanBeRemoved() {
        KernelCache cache = new KernelCache(dir.resolve("kernels"));
        String key = key("NVRTC 13.0", OPTIONS, "cast.cu", "kernel text", HEADERS);
        assertNull(cache.load(key), "nothing before the first store");
        byte[] cubin = {0x7f, 'E', 'L', 'F', 1, 2, 3};
        cache.store(key, cubin);
        assertArrayEquals(cubin, cache.load(key));
        try (var files = Files.list(dir.resolve("kernels"))) {
            assertEquals(List.of(key + ".cubin"), files.map(p -> p.getFileName().toString()).toList(),
                    "one entry, no temporary file left");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        cache.remove(key);
        assertNull(cache.load(key));
    }

    @Test
    void aCacheThatCannotBeWrittenOrReadOnlyMeansCompiling() throws IOException {
        Path notADirectory = Files.writeString(dir.resolve("file"), "in the way");
        KernelCache cache = new KernelCache(notADirectory.resolve("kernels"));
        cache.store("k", new byte[] {1});
        assertNull(cache.load("k"));
        cache.remove("k");
        assertTrue(Files.isRegularFile(notADirectory), "left as it was");
    }

    @Test
    void offStoresAndFindsNothing() {
        String before = System.getProperty(KernelCache.PROPERTY);
        System.setProperty(KernelCache.PROPERTY, "off");
        try {
            KernelCache cache = KernelCache.fromEnvironment();
            cache.store("k", new byte[] {1});
            assertNull(cache.load("k"));
        } finally {
            if (before == null) {
                System.clearProperty(KernelCache.PROPERTY);
            } else {
                System.setProperty(KernelCache.PROPERTY, before);
            }
        }
        System.setProperty(KernelCache.PROPERTY, dir.toString());
        try {
            KernelCache cache = KernelCache.fromEnvironment();
            cache.store("k", new byte[] {1});
            assertArrayEquals(new byte[] {1}, cache.load("k"), "the property names the directory");
            assertFalse(Files.exists(dir.resolve("float8j")), "and nothing else is made");
        } finally {
            if (before == null) {
                System.clearProperty(KernelCache.PROPERTY);
            } else {
                System.setProperty(KernelCache.PROPERTY, before);
            }
        }
    }
}
