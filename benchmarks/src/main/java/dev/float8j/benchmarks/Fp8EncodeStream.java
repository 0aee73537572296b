package dev.float8j.benchmarks;

import dev.float8j.plan.Fp8Format;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.stream.IntStream;

/**
 * Writes to stdout {@link Fp8Format#encode} of every float32 bit pattern, 0 to 2^32-1 in order, one byte each
 * (4 GiB per format), for an exhaustive comparison with another implementation (benchmarks/fp8_vs_pytorch.py).
 * Usage: {@code Fp8EncodeStream E4M3FN|E5M2}.
 */
public final class Fp8EncodeStream {
    private static final int CHUNK = 1 << 24;

    private Fp8EncodeStream() {
    }

    public static void main(String[] args) throws IOException {
        Fp8Format format = Fp8Format.valueOf(args[0]);
        try (FileChannel out = new FileOutputStream(FileDescriptor.out).getChannel()) {
            byte[] codes = new byte[CHUNK];
            for (long base = 0; base < (1L << 32); base += CHUNK) {
                int first = (int) base;
                IntStream.range(0, 64).parallel().forEach(part -> {
                    int from = part * (CHUNK / 64);
                    for (int i = from; i < from + CHUNK / 64; i++) {
                        codes[i] = format.encode(Float.intBitsToFloat(first + i));
                    }
                });
                ByteBuffer buffer = ByteBuffer.wrap(codes);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            }
        }
    }
}
