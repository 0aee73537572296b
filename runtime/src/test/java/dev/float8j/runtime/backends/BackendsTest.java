package dev.float8j.runtime.backends;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class BackendsTest {

    @Test
    void withoutThePropertyTheDefaultIsTheFastestBackendNotTheReference() {
        assertNotEquals("reference", Backends.fromProperty(null).name());
        assertNotEquals("reference", Backends.fromProperty(" ").name());
        assertEquals("reference", Backends.fromProperty("reference").name());
    }

    @Test
    void aBadPropertyNamesItselfAndTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.fromProperty("gpu"));
        assertEquals("-Dfloat8j.backend=gpu: unknown backend 'gpu'; choose cuda, cpu, reference or auto", e.getMessage());
    }

    @Test
    void theTestsRunOnTheReferenceBackendAsThePomPinsIt() {
        assertEquals("reference", System.getProperty(Backends.PROPERTY));
    }

    /** Entry point of the child JVM below: asks for the CPU backend and prints what happened. */
    public static void main(String[] args) {
        try {
            Backends.named("cpu");
            System.out.println("no error");
        } catch (IllegalStateException e) {
            System.out.println(e.getMessage());
        }
    }

    @Test
    void withoutTheVectorModuleTheCpuBackendFailsWithOneLineNamingTheFlag() throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                BackendsTest.class.getName())).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals("float8j's CPU backend needs the Vector API: start java with --add-modules jdk.incubator.vector"
                + " (or choose the slow -Dfloat8j.backend=reference)", out);
    }
}
