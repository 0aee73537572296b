package dev.float8j.runtime.debug;

import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Dumps each selected quantization as four .npy files named
 * {@code step<step>_<module>_<gemm>_<operand>_<what>.npy}: {@code hp} (the high-precision input, float32),
 * {@code dequantized} (float32), {@code codes} (the FP8 bytes, uint8) and {@code scales} (float32, over the
 * block grid). Open them with numpy.load.
 */
public final class TensorDumpObserver implements QuantizationObserver {
    private final Selection selection;
    private final Path directory;
    private final List<Path> written = new ArrayList<>();

    /** Dumps the selected quantizations as .npy files into directory, which it creates. */
    public TensorDumpObserver(Selection selection, Path directory) throws IOException {
        this.selection = selection;
        this.directory = Files.createDirectories(directory);
    }

    @Override
    public boolean wants(Site site, long step) {
        return selection.matches(site, step);
    }

    @Override
    public synchronized void observe(Site site, long step, Tensor highPrecision, Float8Tensor quantized, Backend backend) {
        String prefix = String.format(Locale.ROOT, "step%06d_%s_%s_%s_", step, site.module().isEmpty() ? "root" : site.module(),
                site.gemm().name().toLowerCase(Locale.ROOT), site.operand().name().toLowerCase(Locale.ROOT));
        try {
            int[] shape = {quantized.rows(), quantized.cols()};
            write(prefix + "hp.npy", p -> Npy.writeFloat32(p, highPrecision.toFloatArray(), shape));
            write(prefix + "dequantized.npy", p -> Npy.writeFloat32(p, backend.dequantize(quantized).toFloatArray(), shape));
            write(prefix + "codes.npy", p -> Npy.writeUint8(p, quantized.codes(), shape));
            write(prefix + "scales.npy", p -> Npy.writeFloat32(p, quantized.scales(), quantized.scaleRows(), quantized.scaleCols()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot dump " + site + " at step " + step + " to " + directory, e);
        }
    }

    private interface Writer {
        void write(Path p) throws IOException;
    }

    private void write(String name, Writer w) throws IOException {
        Path p = directory.resolve(name);
        w.write(p);
        written.add(p);
    }

    /** The files written so far. */
    public synchronized List<Path> written() {
        return List.copyOf(written);
    }
}
