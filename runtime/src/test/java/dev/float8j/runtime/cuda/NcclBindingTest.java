package dev.float8j.runtime.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The FFM downcalls of {@link Nccl} against a stand-in library with NCCL's C signatures (fake_nccl.c, compiled here
 * with the system C compiler; skipped without one): every binding links, the 128-byte unique id travels by value,
 * and each collective receives its arguments in order. This checks float8j's side of the binding, not NCCL itself.
 */
class NcclBindingTest {

    @Test
    void everyDowncallPassesItsArgumentsInOrder(@TempDir Path dir) throws Throwable {
        Path lib = compileFake(dir);
        String before = System.getProperty(Nccl.PROPERTY);
        System.setProperty(Nccl.PROPERTY, lib.toString());
        try (Arena arena = Arena.ofConfined()) {
            Nccl nccl = Nccl.load();
            assertEquals(lib.toString(), nccl.loadedFrom());
            assertEquals(22703, nccl.version());
            byte[] id = nccl.uniqueId();
            assertEquals(Nccl.UNIQUE_ID_BYTES, id.length);
            assertEquals(127, id[127]);
            MemorySegment comm = nccl.initRank(1, id, 0); // the fake refuses an id that did not arrive intact
            MethodHandle lastCall = Linker.nativeLinker().downcallHandle(
                    SymbolLookup.libraryLookup(lib, arena).find("fakeLastCall").orElseThrow(),
                    FunctionDescriptor.ofVoid(ADDRESS));
            MemorySegment args = arena.allocate(JAVA_LONG, 8);
            MemorySegment stream = MemorySegment.ofAddress(0x5eed);
            float[] values = {1.5f, -2f, 3.25f};
            MemorySegment send = arena.allocateFrom(JAVA_FLOAT, values);
            MemorySegment recv = arena.allocate(JAVA_FLOAT, 3);

            nccl.allGather(send.address(), recv.address(), 3, Nccl.FLOAT32, comm, stream);
            lastCall.invokeExact(args);
            assertArrayEquals(new long[] {send.address(), recv.address(), 3, Nccl.FLOAT32, -1, comm.address(), 0x5eed},
                    java.util.Arrays.copyOf(args.toArray(JAVA_LONG), 7), "ncclAllGather");
            assertArrayEquals(values, recv.toArray(JAVA_FLOAT));

            nccl.reduceScatter(send.address(), recv.address(), 3, Nccl.FLOAT32, Nccl.AVG, comm, stream);
            lastCall.invokeExact(args);
            assertEquals(Nccl.AVG, args.getAtIndex(JAVA_LONG, 4), "ncclReduceScatter's op");
            nccl.allReduce(send.address(), recv.address(), 2, Nccl.BFLOAT16, Nccl.MAX, comm, stream);
            lastCall.invokeExact(args);
            assertArrayEquals(new long[] {2, Nccl.BFLOAT16, Nccl.MAX}, java.util.Arrays.copyOfRange(args.toArray(JAVA_LONG),
                    2, 5), "ncclAllReduce");
            nccl.broadcast(send.address(), recv.address(), 3, Nccl.UINT8, 0, comm, stream);
            lastCall.invokeExact(args);
            assertArrayEquals(new long[] {3, Nccl.UINT8, 0}, java.util.Arrays.copyOfRange(args.toArray(JAVA_LONG), 2, 5),
                    "ncclBroadcast");

            MethodHandle groupDepth = Linker.nativeLinker().downcallHandle(
                    SymbolLookup.libraryLookup(lib, arena).find("fakeGroupDepth").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT));
            nccl.groupStart();
            assertEquals(1, (int) groupDepth.invokeExact(), "ncclGroupStart");
            nccl.groupEnd();
            assertEquals(0, (int) groupDepth.invokeExact(), "ncclGroupEnd");
            CudaException unbalanced = assertThrows(CudaException.class, nccl::groupEnd);
            assertTrue(unbalanced.getMessage().startsWith("ncclGroupEnd failed"), unbalanced.getMessage());

            CudaException e = assertThrows(CudaException.class,
                    () -> nccl.allReduce(send.address(), recv.address(), 0, Nccl.FLOAT32, Nccl.SUM, comm, stream));
            assertTrue(e.getMessage().equals("ncclAllReduce failed: invalid argument (fake) (ncclResult_t 4)"),
                    e.getMessage());
            nccl.destroy(comm);
        } finally {
            if (before == null) {
                System.clearProperty(Nccl.PROPERTY);
            } else {
                System.setProperty(Nccl.PROPERTY, before);
            }
        }
    }

    private static Path compileFake(Path dir) throws IOException, InterruptedException {
        Path source = dir.resolve("fake_nccl.c");
        try (InputStream in = NcclBindingTest.class.getResourceAsStream("fake_nccl.c")) {
            Files.copy(in, source);
        }
        Path lib = dir.resolve("libfakenccl.so");
        Process cc;
        try {
            cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-o", lib.toString(), source.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("skipped: no C compiler (cc) to build the stand-in NCCL: " + e.getMessage());
            return null;
        }
        String output = new String(cc.getInputStream().readAllBytes());
        Assumptions.assumeTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0,
                () -> "skipped: cc could not build the stand-in NCCL: " + output);
        return lib;
    }
}
