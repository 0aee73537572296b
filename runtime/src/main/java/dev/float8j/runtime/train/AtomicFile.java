package dev.float8j.runtime.train;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Writes a file so that neither a failure nor a crash leaves a partial one: the content goes to {@code NAME.tmp} in
 * the same folder, is forced to disk, and is renamed over the target, whose folder is then forced so that the rename
 * itself survives a power loss. When anything fails, the temp file is deleted and the error names the target.
 */
final class AtomicFile {

    /** What goes into the file. */
    interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /** How written data reaches the disk; the tests record the calls instead. */
    interface Durability {
        /** Forces the file's content and metadata to the device (fsync). */
        void force(FileChannel file) throws IOException;

        /** Forces a folder's entries to the device, so that a rename in it survives a crash. */
        void forceDirectory(Path folder) throws IOException;
    }

    /** The real thing. Windows cannot open a folder to force it (and makes renames durable itself): skipped there. */
    static final Durability DISK = new Durability() {
        private final boolean windows = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");

        @Override
        public void force(FileChannel file) throws IOException {
            file.force(true);
        }

        @Override
        public void forceDirectory(Path folder) throws IOException {
            if (!windows) {
                try (FileChannel channel = FileChannel.open(folder, StandardOpenOption.READ)) {
                    channel.force(true);
                }
            }
        }
    };

    private AtomicFile() {
    }

    /** Replaces target with content, all or nothing, creating its folder if needed. */
    static void write(Path target, Content content, Durability durability) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        Path tmp = absolute.resolveSibling(absolute.getFileName() + ".tmp");
        boolean renamed = false;
        try {
            Files.createDirectories(folder);
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                // not closed here: closing it would close the channel before it is forced
                OutputStream stream = new BufferedOutputStream(Channels.newOutputStream(out), 1 << 16);
                content.writeTo(stream);
                stream.flush();
                durability.force(out);
            }
            Files.move(tmp, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            renamed = true;
            durability.forceDirectory(folder);
        } catch (IOException | RuntimeException e) {
            if (!renamed) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw new IOException("could not write " + absolute + (renamed ? " durably (it was written, but its folder "
                    + "could not be forced to disk)" : "") + ": " + e, e);
        }
    }
}
