package dev.float8j.runtime.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The loaded CUDA stack for one GPU: driver, primary context, one stream, cuBLASLt, the float8j kernel files
 * (each compiled once by NVRTC for this GPU, on first use) and the caching allocator. Created once per process.
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
    /** Shared memory of one multiprocessor, which its resident blocks share. */
    final int sharedBytesPerMultiprocessor;
    final CastFaults faults;
    /** Kernel files loaded so far, by file name. */
    private final Map<String, KernelModule> modules = new HashMap<>();

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
        sharedBytesPerMultiprocessor = driver.attribute(device, CudaDriver.ATTR_SHARED_BYTES_PER_MULTIPROCESSOR);
        if (computeCapability < 89) {
            throw new CudaUnavailableException(deviceName + " (sm_" + computeCapability
                    + ") has no FP8 tensor cores; float8j's CUDA backend needs sm_89 or newer");
        }
        context = driver.retainPrimaryContext(device);
        stream = driver.createStream();
        lt = new CublasLt();
        lt.start(driver);
        allocator = new DeviceAllocator(driver);
        faults = new CastFaults(driver, stream);
    }

    /** The kernel file (one op family), compiled and loaded on first use; structs are checked as it loads. */
    synchronized KernelModule module(String file, List<StructLayout> structs) {
        KernelModule m = modules.get(file);
        if (m == null) {
            m = KernelModule.load(this, file, structs);
            modules.put(file, m);
        }
        return m;
    }

    /** A kernel file without argument structs. */
    KernelModule module(String file) {
        return module(file, List.of());
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
