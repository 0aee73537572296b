package dev.float8j.runtime.debug;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Writes NumPy's .npy format, version 1.0: the magic "\x93NUMPY", the version bytes 1 and 0, a little-endian
 * uint16 header length, then an ASCII dict {'descr': ..., 'fortran_order': False, 'shape': (...), } padded
 * with spaces and a newline so the data starts at a multiple of 64 bytes, then the data, row-major and
 * little-endian.
 */
public final class Npy {
    /** The magic string that opens every .npy file. */
    static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

    private Npy() {
    }

    /** Writes float32 values ({@code '<f4'}). */
    public static void writeFloat32(Path file, float[] values, int... shape) throws IOException {
        check(values.length, shape);
        ByteBuffer data = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        data.asFloatBuffer().put(values);
        write(file, "<f4", shape, data.array());
    }

    /** Writes unsigned bytes ('|u1'), e.g. FP8 codes. */
    public static void writeUint8(Path file, byte[] values, int... shape) throws IOException {
        check(values.length, shape);
        write(file, "|u1", shape, values);
    }

    /** The header dict for a C-ordered array, padded as the format asks. */
    static byte[] header(String descr, int[] shape) {
        String dims = Arrays.stream(shape).mapToObj(Integer::toString).collect(Collectors.joining(", "));
        String tuple = shape.length == 1 ? "(" + dims + ",)" : "(" + dims + ")";
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + tuple + ", }";
        int preamble = MAGIC.length + 2 + 2;
        int total = preamble + dict.length() + 1;
        int padded = (total + 63) / 64 * 64;
        return (dict + " ".repeat(padded - total) + "\n").getBytes(StandardCharsets.US_ASCII);
    }

    private static void write(Path file, String descr, int[] shape, byte[] data) throws IOException {
        byte[] header = header(descr, shape);
        if (header.length > 0xFFFF) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " gives a header too long for .npy 1.0");
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(MAGIC);
            out.write(new byte[] {1, 0, (byte) header.length, (byte) (header.length >>> 8)});
            out.write(header);
            out.write(data);
        }
    }

    private static void check(int count, int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (shape.length == 0 || n != count) {
            throw new IllegalArgumentException(count + " values do not fill shape " + Arrays.toString(shape));
        }
    }
}
