package dev.float8j.runtime.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The loaded CUDA stack for one GPU: driver, primary context, one stream, cuBLASLt, the float8j kernels
 * (compiled once by NVRTC for this GPU) and the caching allocator. Created once per process.
 */
final class CudaContext {
    /** Dynamic shared memory of the pipelined cast: two stages of 128 rows x 256 bytes. */
    static final int PIPELINE_STAGE_BYTES = 2 * 128 * 256;
    private static CudaContext instance;
    private static CudaException failure;

    final CudaDriver driver;
    final CublasLt lt;
    final DeviceAllocator allocator;
    final MemorySegment stream;
    final MemorySegment context;
    final String deviceName;
    final int computeCapability;
    final int multiprocessors;
    final Kernels kernels;
    final CastFaults faults;

    /**
     * Kernel handles of kernels.cu; amaxTiles and castTiles are indexed by source type (F32, BF16, FP8),
     * amaxFlat and castFlat (tensorwise over contiguous data) by high-precision type (F32, BF16).
     */
    record Kernels(MemorySegment[] amaxTiles, MemorySegment[] castTiles, MemorySegment[] amaxFlat,
            MemorySegment[] castFlat, MemorySegment dequantize, MemorySegment convert, MemorySegment transpose,
            MemorySegment addInto, MemorySegment columnSums, MemorySegment addBias) {
    }

    private CudaContext() {
        driver = new CudaDriver();
        driver.init();
        if (driver.deviceCount() == 0) {
            throw new CudaUnavailableException("the CUDA driver (" + driver.loadedFrom() + ") sees no GPU");
        }
        int device = driver.device(0);
        deviceName = driver.deviceName(device);
        int major = driver.attribute(device, CudaDriver.ATTR_COMPUTE_CAPABILITY_MAJOR);
        int minor = driver.attribute(device, CudaDriver.ATTR_COMPUTE_CAPABILITY_MINOR);
        computeCapability = major * 10 + minor;
        multiprocessors = driver.attribute(device, CudaDriver.ATTR_MULTIPROCESSOR_COUNT);
        if (computeCapability < 89) {
            throw new CudaUnavailableException(deviceName + " (sm_" + computeCapability
                    + ") has no FP8 tensor cores; float8j's CUDA backend needs sm_89 or newer");
        }
        context = driver.retainPrimaryContext(device);
        stream = driver.createStream();
        Nvrtc nvrtc = new Nvrtc();
        byte[] cubin = nvrtc.compile(source(), "kernels.cu",
                List.of("--gpu-architecture=sm_" + computeCapability, "--std=c++17"));
        MemorySegment module = driver.loadModule(cubin);
        String[] types = {"f32", "bf16", "fp8"};
        MemorySegment[] amax = new MemorySegment[types.length];
        MemorySegment[] cast = new MemorySegment[types.length];
        for (int i = 0; i < types.length; i++) {
            amax[i] = driver.function(module, "amax_tiles_" + types[i]);
            cast[i] = driver.function(module, "cast_tiles_" + types[i]);
        }
        // The pipelined BF16 kernels keep two 32 KiB tile stages in dynamic shared memory.
        driver.setFunctionAttribute(cast[1], CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, PIPELINE_STAGE_BYTES);
        driver.setFunctionAttribute(amax[1], CudaDriver.FUNC_ATTR_MAX_DYNAMIC_SHARED_BYTES, PIPELINE_STAGE_BYTES);
        MemorySegment[] amaxFlat = {driver.function(module, "amax_flat_f32"), driver.function(module, "amax_flat_bf16")};
        MemorySegment[] castFlat = {driver.function(module, "cast_flat_f32"), driver.function(module, "cast_flat_bf16")};
        kernels = new Kernels(amax, cast, amaxFlat, castFlat, driver.function(module, "dequantize"),
                driver.function(module, "convert"), driver.function(module, "transpose"),
                driver.function(module, "add_into"), driver.function(module, "column_sums"),
                driver.function(module, "add_bias"));
        lt = new CublasLt();
        lt.start(driver);
        allocator = new DeviceAllocator(driver);
        faults = new CastFaults(driver, stream);
    }

    private static String source() {
        try (InputStream in = CudaContext.class.getResourceAsStream("kernels.cu")) {
            if (in == null) {
                throw new IllegalStateException("kernels.cu is missing from the float8j jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The process-wide context, created on first use; a failure is remembered and thrown again. */
    static synchronized CudaContext get() {
        if (instance == null) {
            if (failure != null) {
                throw failure;
            }
            try {
                instance = new CudaContext();
            } catch (CudaException e) {
                failure = e;
                throw e;
            }
        }
        // Contexts are per thread in the driver API: make ours current wherever the backend is called from.
        instance.driver.setCurrent(instance.context);
        return instance;
    }
}
