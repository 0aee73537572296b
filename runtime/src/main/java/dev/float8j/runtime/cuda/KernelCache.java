package dev.float8j.runtime.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Compiled kernels kept on disk between processes. NVRTC takes about 26 s to compile float8j's kernel files for one GPU
 * architecture on a 2-vCPU machine, 20 s of it cast.cu, and every process compiled them again; with the cache only the
 * first one does. An entry is named by a SHA-256 of everything that decides its cubin: NVRTC's version and library, the
 * options (the GPU architecture among them), the file's name and source and every header's name and text. So an edited
 * kernel or another GPU generation never meets a stale cubin.
 *
 * <p>The directory is the system property {@code float8j.cuda.kernelCache}, else {@code $XDG_CACHE_HOME/float8j/kernels},
 * else {@code ~/.cache/float8j/kernels}; the property's value {@code off} turns the cache off. A directory that cannot
 * be read or written costs nothing but the compile: every failure here falls back to compiling, and is logged at FINE.
 * An entry is written to a temporary file and moved into place, so a reader never sees half of one; a cubin that the
 * driver refuses to load is removed and compiled again ({@link KernelModule}).
 */
final class KernelCache {
    private static final Logger LOG = Logger.getLogger(KernelCache.class.getName());
    static final String PROPERTY = "float8j.cuda.kernelCache";

    /** The directory, or null when the cache is off. */
    private final Path dir;

    KernelCache(Path dir) {
        this.dir = dir;
    }

    /** The cache the system property and the environment name (see the class comment). */
    static KernelCache fromEnvironment() {
        String configured = System.getProperty(PROPERTY);
        if ("off".equals(configured)) {
            return new KernelCache(null);
        }
        if (configured != null && !configured.isBlank()) {
            return new KernelCache(Path.of(configured));
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new KernelCache(base.resolve("float8j").resolve("kernels"));
    }

    /** The entry's name: a SHA-256 (hex) of everything that decides the cubin. */
    static String key(String compiler, List<String> options, String file, String source, Map<String, String> headers) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            // each part is length-prefixed, so that no two different inputs hash the same text
            for (String part : parts(compiler, options, file, source, headers)) {
                byte[] bytes = part.getBytes(StandardCharsets.UTF_8);
                sha.update(Integer.toString(bytes.length).getBytes(StandardCharsets.US_ASCII));
                sha.update((byte) ':');
                sha.update(bytes);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static List<String> parts(String compiler, List<String> options, String file, String source,
            Map<String, String> headers) {
        List<String> parts = new java.util.ArrayList<>();
        parts.add(compiler);
        parts.add(Integer.toString(options.size()));
        parts.addAll(options);
        parts.add(file);
        parts.add(source);
        headers.forEach((name, text) -> {
            parts.add(name);
            parts.add(text);
        });
        return parts;
    }

    /** The cubin stored under key, or null when the cache is off, has none, or cannot be read. */
    byte[] load(String key) {
        if (dir == null) {
            return null;
        }
        Path entry = dir.resolve(key + ".cubin");
        try {
            return Files.isRegularFile(entry) ? Files.readAllBytes(entry) : null;
        } catch (IOException e) {
            LOG.log(Level.FINE, "kernel cache: cannot read " + entry + ", compiling instead", e);
            return null;
        }
    }

    /** Stores cubin under key; a failure leaves the cache as it was. */
    void store(String key, byte[] cubin) {
        if (dir == null) {
            return;
        }
        Path entry = dir.resolve(key + ".cubin");
        try {
            Files.createDirectories(dir);
            Path temporary = Files.createTempFile(dir, key, ".tmp");
            try {
                Files.write(temporary, cubin);
                try {
                    Files.move(temporary, entry, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temporary, entry, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temporary);
            }
        } catch (IOException e) {
            LOG.log(Level.FINE, "kernel cache: cannot write " + entry, e);
        }
    }

    /** Removes the entry under key (one the driver refused), if it can. */
    void remove(String key) {
        if (dir == null) {
            return;
        }
        try {
            Files.deleteIfExists(dir.resolve(key + ".cubin"));
        } catch (IOException e) {
            LOG.log(Level.FINE, "kernel cache: cannot remove " + key, e);
        }
    }
}
