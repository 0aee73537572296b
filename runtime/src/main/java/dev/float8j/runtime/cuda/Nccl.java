package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * FFM bindings to NCCL (libnccl.so.2), found as cuBLASLt is ({@link NativeLibrary}: {@code -Dfloat8j.nccl.libnccl}
 * names the file, else the sonames, else the CUDA install directories; PyTorch's wheels keep it under
 * {@code site-packages/nvidia/nccl/lib}). Only what {@link NcclCommunicator} needs: unique ids, one communicator per
 * process, and the five collectives. NVLink multicast (NVLS) is kept off, see {@link #requireNvlsOff}.
 */
final class Nccl {
    static final String PROPERTY = "float8j.nccl.libnccl";

    /** ncclDataType_t. */
    static final int UINT8 = 1;
    static final int UINT32 = 3;
    static final int FLOAT32 = 7;
    static final int BFLOAT16 = 9;

    /** ncclRedOp_t. */
    static final int SUM = 0;
    static final int MAX = 2;
    static final int AVG = 4;

    /** sizeof(ncclUniqueId): NCCL_UNIQUE_ID_BYTES. */
    static final int UNIQUE_ID_BYTES = 128;
    private static final MemoryLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE));

    private final NativeLibrary lib;
    private final MethodHandle getVersion;
    private final MethodHandle getUniqueId;
    private final MethodHandle commInitRank;
    private final MethodHandle commDestroy;
    private final MethodHandle getErrorString;
    private final MethodHandle allGather;
    private final MethodHandle reduceScatter;
    private final MethodHandle allReduce;
    private final MethodHandle broadcast;
    private final MethodHandle groupStart;
    private final MethodHandle groupEnd;

    private Nccl(NativeLibrary lib) {
        this.lib = lib;
        getVersion = lib.bind("ncclGetVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getUniqueId = lib.bind("ncclGetUniqueId", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commInitRank = lib.bind("ncclCommInitRank", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        commDestroy = lib.bind("ncclCommDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getErrorString = lib.bind("ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        // (send, recv, count, datatype, [op | root,] comm, stream)
        allGather = lib.bind("ncclAllGather", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT,
                ADDRESS, ADDRESS));
        reduceScatter = lib.bind("ncclReduceScatter", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        allReduce = lib.bind("ncclAllReduce", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS));
        broadcast = lib.bind("ncclBroadcast", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS));
        groupStart = lib.bind("ncclGroupStart", FunctionDescriptor.of(JAVA_INT));
        groupEnd = lib.bind("ncclGroupEnd", FunctionDescriptor.of(JAVA_INT));
    }

    /**
     * Loads NCCL, after checking that NVLink multicast stays off.
     *
     * @throws CudaUnavailableException naming every file tried when no NCCL loads
     * @throws IllegalStateException if NCCL_NVLS_ENABLE is set to anything but 0
     */
    static Nccl load() {
        requireNvlsOff(System.getenv("NCCL_NVLS_ENABLE"));
        setNvlsOff();
        return new Nccl(NativeLibrary.open("NCCL", PROPERTY, "libnccl.so.2", "libnccl.so"));
    }

    /**
     * NVLink SHARP multicast can take a host's GPUs out of service for every user of the host when a job using it
     * fails: float8j refuses to run NCCL with it on. Unset is fine (float8j sets it to 0 before NCCL reads it).
     */
    static void requireNvlsOff(String nvlsEnable) {
        if (nvlsEnable != null && !nvlsEnable.strip().equals("0")) {
            throw new IllegalStateException("NCCL_NVLS_ENABLE is '" + nvlsEnable + "': float8j runs NCCL only with NVLink"
                    + " multicast off; unset it or set NCCL_NVLS_ENABLE=0");
        }
    }

    /** setenv("NCCL_NVLS_ENABLE", "0") in this process, before NCCL is loaded and reads its environment. */
    private static void setNvlsOff() {
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(
                () -> new IllegalStateException("the C library has no setenv: cannot set NCCL_NVLS_ENABLE=0")),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) setenv.invokeExact(arena.allocateFrom("NCCL_NVLS_ENABLE"), arena.allocateFrom("0"), 1);
            if (rc != 0) {
                throw new IllegalStateException("setenv(NCCL_NVLS_ENABLE=0) failed with " + rc);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    String loadedFrom() {
        return lib.loadedFrom();
    }

    int version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(JAVA_INT);
            check((int) getVersion.invokeExact(v), "ncclGetVersion");
            return v.get(JAVA_INT, 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A new unique id, made by rank 0 and handed to every other rank before {@link #initRank}. */
    byte[] uniqueId() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = arena.allocate(UNIQUE_ID);
            check((int) getUniqueId.invokeExact(id), "ncclGetUniqueId");
            return id.toArray(JAVA_BYTE);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** ncclCommInitRank on the current CUDA device; blocks until every rank joined. */
    MemorySegment initRank(int size, byte[] uniqueId, int rank) {
        if (uniqueId.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id is " + UNIQUE_ID_BYTES + " bytes, got " + uniqueId.length);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = arena.allocate(ADDRESS);
            MemorySegment id = arena.allocate(UNIQUE_ID);
            MemorySegment.copy(uniqueId, 0, id, JAVA_BYTE, 0, UNIQUE_ID_BYTES);
            check((int) commInitRank.invokeExact(comm, size, id, rank), "ncclCommInitRank");
            return comm.get(ADDRESS, 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    void destroy(MemorySegment comm) {
        call(() -> (int) commDestroy.invokeExact(comm), "ncclCommDestroy");
    }

    void allGather(long send, long recv, long sendCount, int type, MemorySegment comm, MemorySegment stream) {
        call(() -> (int) allGather.invokeExact(send, recv, sendCount, type, comm, stream), "ncclAllGather");
    }

    void reduceScatter(long send, long recv, long recvCount, int type, int op, MemorySegment comm, MemorySegment stream) {
        call(() -> (int) reduceScatter.invokeExact(send, recv, recvCount, type, op, comm, stream), "ncclReduceScatter");
    }

    void allReduce(long send, long recv, long count, int type, int op, MemorySegment comm, MemorySegment stream) {
        call(() -> (int) allReduce.invokeExact(send, recv, count, type, op, comm, stream), "ncclAllReduce");
    }

    void broadcast(long send, long recv, long count, int type, int root, MemorySegment comm, MemorySegment stream) {
        call(() -> (int) broadcast.invokeExact(send, recv, count, type, root, comm, stream), "ncclBroadcast");
    }

    /**
     * ncclGroupStart: the collectives called until {@link #groupEnd} are launched together (one kernel where NCCL can
     * fuse them), as one operation on the stream.
     */
    void groupStart() {
        call(() -> (int) groupStart.invokeExact(), "ncclGroupStart");
    }

    void groupEnd() {
        call(() -> (int) groupEnd.invokeExact(), "ncclGroupEnd");
    }

    @FunctionalInterface
    private interface NcclCall {
        int run() throws Throwable;
    }

    private void call(NcclCall call, String name) {
        int rc;
        try {
            rc = call.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, name);
    }

    private void check(int rc, String name) {
        if (rc != 0) {
            String text;
            try {
                text = NativeLibrary.cString((MemorySegment) getErrorString.invokeExact(rc));
            } catch (Throwable t) {
                text = "(no text)";
            }
            throw new CudaException(name + " failed: " + text + " (ncclResult_t " + rc + ")");
        }
    }
}
