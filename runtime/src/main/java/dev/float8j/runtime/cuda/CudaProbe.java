package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.float8j.plan.Fp8Format;
import dev.float8j.runtime.BFloat16;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Diagnostic: reports what this machine's CUDA stack offers float8j (device, library versions, an NVRTC
 * kernel round trip, which cuBLASLt FP8 scale modes run and with which scale layout, raw gemm TFLOP/s).
 * Run: {@code java --enable-native-access=ALL-UNNAMED -cp float8j-runtime.jar dev.float8j.runtime.cuda.CudaProbe}.
 */
public final class CudaProbe {
    private final CudaDriver driver = new CudaDriver();
    private Nvrtc nvrtc;
    private CublasLt lt;
    private MemorySegment stream;

    private CudaProbe() {
    }

    public static void main(String[] args) {
        new CudaProbe().run(args.length > 0 && args[0].equals("--no-timing"));
    }

    private void run(boolean skipTiming) {
        driver.init();
        System.out.println("driver: " + driver.loadedFrom() + ", version " + driver.driverVersion());
        int device = driver.device(0);
        int major = driver.attribute(device, CudaDriver.ATTR_COMPUTE_CAPABILITY_MAJOR);
        int minor = driver.attribute(device, CudaDriver.ATTR_COMPUTE_CAPABILITY_MINOR);
        System.out.println("device 0: " + driver.deviceName(device) + ", sm_" + major + minor + ", "
                + driver.attribute(device, CudaDriver.ATTR_MULTIPROCESSOR_COUNT) + " SMs");
        driver.retainPrimaryContext(device);
        System.out.println("memory free/total bytes: " + Arrays.toString(driver.memInfo()));
        stream = driver.createStream();
        nvrtc = new Nvrtc();
        System.out.println("nvrtc: " + nvrtc.loadedFrom() + ", version " + nvrtc.version());
        probeNvrtc(major, minor);
        lt = new CublasLt();
        lt.start(driver);
        System.out.println("cublasLt: " + lt.loadedFrom() + ", version " + lt.version());
        int[][] combos = {
            {CublasLt.SCALE_SCALAR_32F, CublasLt.SCALE_SCALAR_32F},
            {CublasLt.SCALE_OUTER_VEC_32F, CublasLt.SCALE_OUTER_VEC_32F},
            {CublasLt.SCALE_BLK128X128_32F, CublasLt.SCALE_VEC128_32F},
            {CublasLt.SCALE_VEC128_32F, CublasLt.SCALE_BLK128X128_32F},
            {CublasLt.SCALE_VEC128_32F, CublasLt.SCALE_VEC128_32F},
            {CublasLt.SCALE_BLK128X128_32F, CublasLt.SCALE_BLK128X128_32F},
        };
        for (int[] combo : combos) {
            for (boolean e5m2Second : new boolean[] {false, true}) {
                probeScaleModes(combo[0], combo[1], e5m2Second);
            }
        }
        if (!skipTiming) {
            for (long[] mnk : new long[][] {{16384, 14336, 4096}, {8192, 8192, 8192}}) {
                timeGemms(mnk[0], mnk[1], mnk[2]);
            }
        }
    }

    private void probeNvrtc(int major, int minor) {
        String src = "extern \"C\" __global__ void fill(float* out, int n, float v) {"
                + " int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) out[i] = v * i; }";
        byte[] cubin = nvrtc.compile(src, "probe.cu", List.of("--gpu-architecture=sm_" + major + minor));
        MemorySegment fill = driver.function(driver.loadModule(cubin), "fill");
        int n = 1000;
        long d = driver.malloc(4L * n);
        try (Arena arena = Arena.ofConfined()) {
            driver.launch(fill, "fill", 4, 1, 1, 256, 1, 1, 0, stream,
                    KernelSignatures.parse("the probe's fill kernel", src).pack(arena, "fill", d, n, 0.5f));
            driver.synchronize(stream);
            MemorySegment host = arena.allocate(JAVA_FLOAT, n);
            driver.copyToHost(host, d, 4L * n);
            boolean ok = true;
            for (int i = 0; i < n; i++) {
                ok &= host.getAtIndex(JAVA_FLOAT, i) == 0.5f * i;
            }
            System.out.println("nvrtc kernel round trip (" + cubin.length + " byte cubin): " + (ok ? "OK" : "WRONG"));
        }
        driver.free(d);
    }

    private static String modeName(int mode) {
        return switch (mode) {
            case CublasLt.SCALE_SCALAR_32F -> "SCALAR_32F";
            case CublasLt.SCALE_OUTER_VEC_32F -> "OUTER_VEC_32F";
            case CublasLt.SCALE_VEC128_32F -> "VEC128_32F";
            case CublasLt.SCALE_BLK128X128_32F -> "BLK128x128_32F";
            default -> "mode " + mode;
        };
    }

    /** Scale count of operand with `rows` free rows (cuBLASLt m or n) over k for a mode. */
    private static int scaleCount(int mode, int rows, int k) {
        return switch (mode) {
            case CublasLt.SCALE_SCALAR_32F -> 1;
            case CublasLt.SCALE_OUTER_VEC_32F -> rows;
            case CublasLt.SCALE_VEC128_32F -> rows * ((k + 127) / 128);
            default -> ((rows + 127) / 128) * ((k + 127) / 128);
        };
    }

    /** Dequantization scale of element (row r, depth kk) under a layout hypothesis (outerMajor: row index fastest). */
    private static float scaleOf(float[] s, int mode, int rows, int k, int r, int kk, boolean outerMajor) {
        int kb = kk / 128;
        int kBlocks = (k + 127) / 128;
        return switch (mode) {
            case CublasLt.SCALE_SCALAR_32F -> s[0];
            case CublasLt.SCALE_OUTER_VEC_32F -> s[r];
            case CublasLt.SCALE_VEC128_32F -> outerMajor ? s[kb * rows + r] : s[r * kBlocks + kb];
            default -> {
                int rb = r / 128;
                int rBlocks = (rows + 127) / 128;
                yield outerMajor ? s[kb * rBlocks + rb] : s[rb * kBlocks + kb];
            }
        };
    }

    private void probeScaleModes(int aMode, int bMode, boolean e5m2Second) {
        int m = 256, n = 384, k = 512;
        Random rnd = new Random(7);
        Fp8Format fa = Fp8Format.E4M3FN;
        Fp8Format fb = e5m2Second ? Fp8Format.E5M2 : Fp8Format.E4M3FN;
        byte[] a = randomCodes(rnd, m * k, fa);
        byte[] b = randomCodes(rnd, n * k, fb);
        float[] sa = randomScales(rnd, scaleCount(aMode, m, k));
        float[] sb = randomScales(rnd, scaleCount(bMode, n, k));
        String name = modeName(aMode) + " x " + modeName(bMode) + (e5m2Second ? " (E4M3 x E5M2)" : " (E4M3 x E4M3)");
        long da = upload(a), db = upload(b), dsa = upload(sa), dsb = upload(sb), dd = driver.malloc(4L * m * n);
        try {
            CublasLt.Shape shape = new CublasLt.Shape(m, n, k, CublasLt.CUDA_R_8F_E4M3,
                    e5m2Second ? CublasLt.CUDA_R_8F_E5M2 : CublasLt.CUDA_R_8F_E4M3, CublasLt.CUDA_R_32F, CublasLt.OP_T,
                    CublasLt.OP_N, k, k, aMode, bMode, false, false);
            lt.matmul(shape, da, db, dd, dsa, dsb, stream);
            driver.synchronize(stream);
            float[] d = download(dd, m * n);
            StringBuilder verdict = new StringBuilder();
            for (boolean aOuter : new boolean[] {true, false}) {
                for (boolean bOuter : new boolean[] {true, false}) {
                    double num = 0, den = 0;
                    for (int j = 0; j < n; j++) {
                        for (int i = 0; i < m; i++) {
                            double sum = 0;
                            for (int kk = 0; kk < k; kk++) {
                                sum += (double) fa.decode(a[i * k + kk]) * fb.decode(b[j * k + kk])
                                        * scaleOf(sa, aMode, m, k, i, kk, aOuter) * scaleOf(sb, bMode, n, k, j, kk, bOuter);
                            }
                            double got = d[j * m + i];
                            num += (got - sum) * (got - sum);
                            den += sum * sum;
                        }
                    }
                    verdict.append(String.format(" [A %s, B %s: rel err %.2e]", aOuter ? "outer-major" : "k-major",
                            bOuter ? "outer-major" : "k-major", Math.sqrt(num / den)));
                }
            }
            System.out.println("scale modes " + name + ": RUNS;" + verdict);
        } catch (CudaException e) {
            System.out.println("scale modes " + name + ": REFUSED: " + e.getMessage());
        } finally {
            for (long p : new long[] {da, db, dsa, dsb, dd}) {
                driver.free(p);
            }
        }
    }

    private static byte[] randomCodes(Random rnd, int count, Fp8Format format) {
        byte[] codes = new byte[count];
        for (int i = 0; i < count; i++) {
            codes[i] = format.encode((float) rnd.nextGaussian());
        }
        return codes;
    }

    private static float[] randomScales(Random rnd, int count) {
        float[] s = new float[count];
        for (int i = 0; i < count; i++) {
            s[i] = 0.25f + rnd.nextFloat() * 4;
        }
        return s;
    }

    private long upload(byte[] data) {
        long d = driver.malloc(data.length);
        try (Arena arena = Arena.ofConfined()) {
            driver.copyToDevice(d, arena.allocateFrom(JAVA_BYTE, data), data.length);
        }
        return d;
    }

    private long upload(float[] data) {
        long d = driver.malloc(4L * data.length);
        try (Arena arena = Arena.ofConfined()) {
            driver.copyToDevice(d, arena.allocateFrom(JAVA_FLOAT, data), 4L * data.length);
        }
        return d;
    }

    private float[] download(long d, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, count);
            driver.copyToHost(host, d, 4L * count);
            return host.toArray(JAVA_FLOAT);
        }
    }

    private void timeGemms(long m, long n, long k) {
        Random rnd = new Random(1);
        long bytesA = m * k, bytesB = n * k;
        long a8 = randomDevice(bytesA, rnd, false), b8 = randomDevice(bytesB, rnd, false);
        long a16 = randomDevice(2 * bytesA, rnd, true), b16 = randomDevice(2 * bytesB, rnd, true);
        long d = driver.malloc(2 * m * n);
        long scales = upload(filledScales((int) Math.max(m, n) * (int) ((k + 127) / 128), 1f));
        double flop = 2.0 * m * n * k;
        CublasLt.Shape bf16 = new CublasLt.Shape(n, m, k, CublasLt.CUDA_R_16BF, CublasLt.CUDA_R_16BF,
                CublasLt.CUDA_R_16BF, CublasLt.OP_T, CublasLt.OP_N, k, k, -1, -1, false, false);
        report("bf16", m, n, k, flop, () -> lt.matmul(bf16, b16, a16, d, 0, 0, stream));
        int[][] modes = {
            {CublasLt.SCALE_SCALAR_32F, CublasLt.SCALE_SCALAR_32F},
            {CublasLt.SCALE_OUTER_VEC_32F, CublasLt.SCALE_OUTER_VEC_32F},
            {CublasLt.SCALE_BLK128X128_32F, CublasLt.SCALE_VEC128_32F},
            {CublasLt.SCALE_VEC128_32F, CublasLt.SCALE_VEC128_32F},
        };
        for (int[] mode : modes) {
            for (boolean fast : new boolean[] {false, true}) {
                try {
                    CublasLt.Shape s = new CublasLt.Shape(n, m, k, CublasLt.CUDA_R_8F_E4M3, CublasLt.CUDA_R_8F_E4M3,
                            CublasLt.CUDA_R_16BF, CublasLt.OP_T, CublasLt.OP_N, k, k, mode[0], mode[1], fast, false);
                    report("fp8 " + modeName(mode[0]) + " x " + modeName(mode[1]) + (fast ? " fast-accum" : ""), m, n,
                            k, flop, () -> lt.matmul(s, b8, a8, d, scales, scales, stream));
                } catch (CudaException e) {
                    System.out.println("fp8 " + modeName(mode[0]) + " x " + modeName(mode[1]) + ": " + e.getMessage());
                }
            }
        }
        for (long p : new long[] {a8, b8, a16, b16, d, scales}) {
            driver.free(p);
        }
    }

    private static float[] filledScales(int count, float value) {
        float[] s = new float[count];
        Arrays.fill(s, value);
        return s;
    }

    /** Fills device memory with random values: a 4 MiB random block repeated, so set-up stays quick. */
    private long randomDevice(long bytes, Random rnd, boolean bf16) {
        long d = driver.malloc(bytes);
        long blockBytes = Math.min(bytes, 4L << 20);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(blockBytes);
            if (bf16) {
                for (long i = 0; i < blockBytes / 2; i++) {
                    host.setAtIndex(JAVA_SHORT, i, BFloat16.fromFloat((float) rnd.nextGaussian()));
                }
            } else {
                for (long i = 0; i < blockBytes; i++) {
                    host.set(JAVA_BYTE, i, Fp8Format.E4M3FN.encode((float) rnd.nextGaussian()));
                }
            }
            for (long off = 0; off < bytes; off += blockBytes) {
                driver.copyToDevice(d + off, host, Math.min(blockBytes, bytes - off));
            }
        }
        return d;
    }

    private void report(String what, long m, long n, long k, double flop, Runnable op) {
        for (int i = 0; i < 5; i++) {
            op.run();
        }
        MemorySegment start = driver.createEvent(), end = driver.createEvent();
        float[] ms = new float[15];
        for (int rep = 0; rep < ms.length; rep++) {
            driver.record(start, stream);
            for (int i = 0; i < 5; i++) {
                op.run();
            }
            driver.record(end, stream);
            ms[rep] = driver.elapsedMillis(start, end) / 5;
        }
        Arrays.sort(ms);
        float median = ms[ms.length / 2];
        System.out.printf("gemm %s %dx%dx%d: %.3f ms, %.0f TFLOP/s%n", what, m, n, k, median, flop / median / 1e9);
    }
}
