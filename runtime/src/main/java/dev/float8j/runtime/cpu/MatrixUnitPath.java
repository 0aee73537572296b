package dev.float8j.runtime.cpu;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * Decides whether a CPU backend's FP8 gemms go through oneDNN's BF16 matmul ({@link OneDnnGemm}), set by the system
 * property {@code float8j.onednn}:
 * <ul>
 * <li>{@code auto} (the default): when oneDNN loads and the CPU has AMX or AVX512-BF16; otherwise the Vector API
 * path, silently;
 * <li>{@code on}: whenever oneDNN loads, even where it would emulate BF16 (for tests); a missing library is an
 * error;
 * <li>{@code off}: never.
 * </ul>
 *
 * @param gemm the oneDNN gemm, or null for the Vector API path only
 * @param description which path FP8 gemms take and why, for {@link CpuBackend#gemmPath()} and the log
 */
record MatrixUnitPath(OneDnnGemm gemm, String description) {
    static final String PROPERTY = "float8j.onednn";
    private static final AtomicBoolean LOGGED = new AtomicBoolean();

    static MatrixUnitPath select(CpuThreads threads) {
        return select(System.getProperty(PROPERTY, "auto"), threads);
    }

    static MatrixUnitPath select(String mode, CpuThreads threads) {
        String normalized = mode.trim().toLowerCase(Locale.ROOT);
        MatrixUnitPath path = switch (normalized) {
            case "off" -> vectorOnly("-D" + PROPERTY + "=off");
            case "on" -> oneDnn(OneDnnLibrary.load(), threads);
            case "auto" -> auto(threads);
            default -> throw new IllegalArgumentException(
                    "-D" + PROPERTY + " is auto, on or off, not '" + mode + "'");
        };
        if (path.gemm != null && LOGGED.compareAndSet(false, true)) {
            Logger.getLogger("dev.float8j").info("float8j: CPU FP8 gemms: " + path.description);
        }
        return path;
    }

    private static MatrixUnitPath auto(CpuThreads threads) {
        OneDnnLibrary library;
        try {
            library = OneDnnLibrary.load();
        } catch (OneDnnUnavailableException e) {
            return vectorOnly("oneDNN not found; -D" + PROPERTY + "=on says why");
        }
        if (!library.hasBf16Hardware()) {
            return vectorOnly("oneDNN " + library.version() + " found, but this CPU has " + library.isaName());
        }
        try {
            return oneDnn(library, threads);
        } catch (OneDnnUnavailableException e) {
            return vectorOnly(e.getMessage());
        }
    }

    private static MatrixUnitPath oneDnn(OneDnnLibrary library, CpuThreads threads) {
        return new MatrixUnitPath(new OneDnnGemm(library, threads), "oneDNN " + library.version()
                + " BF16 matmul (" + library.isaName() + ", " + library.loadedFrom() + ") for tensorwise, rowwise and"
                + " power-of-two-scaled FP8 (MX); the Vector API for other block scales");
    }

    private static MatrixUnitPath vectorOnly(String why) {
        return new MatrixUnitPath(null, "Vector API (" + why + ")");
    }
}
