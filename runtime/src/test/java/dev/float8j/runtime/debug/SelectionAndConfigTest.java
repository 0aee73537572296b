package dev.float8j.runtime.debug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SelectionAndConfigTest {
    @TempDir
    Path dir;

    @AfterEach
    void reset() {
        Float8Debug.observe(null);
        Float8Debug.clearSwitches();
    }

    @Test
    void selectionFiltersByModuleGemmOperandAndSteps() {
        Selection s = Selection.all().modules("blocks.*.up").gemms(Gemm.OUTPUT, Gemm.GRAD_WEIGHT).operands(Operand.INPUT)
                .steps(10, 30).every(5);
        Site up = new Site("blocks.1.up", Gemm.OUTPUT, Operand.INPUT);
        assertTrue(s.matches(up, 10));
        assertTrue(s.matches(up, 25));
        assertFalse(s.matches(up, 11), "not a multiple of 5 from step 10");
        assertFalse(s.matches(up, 35), "past the last step");
        assertFalse(s.matches(up, 5), "before the first step");
        assertFalse(s.matches(new Site("blocks.1.down", Gemm.OUTPUT, Operand.INPUT), 10));
        assertFalse(s.matches(new Site("blocks.1.up", Gemm.GRAD_INPUT, Operand.INPUT), 10));
        assertFalse(s.matches(new Site("blocks.1.up", Gemm.OUTPUT, Operand.WEIGHT), 10));
        assertThrows(IllegalArgumentException.class, () -> Selection.all().steps(5, 4));
        assertThrows(IllegalArgumentException.class, () -> Selection.all().every(0));
    }

    @Test
    void configInstallsObserversAndSwitches() throws Exception {
        Path csv = dir.resolve("stats.csv");
        String text = """
                # watch the inputs of every up projection, every other step from 4
                stats module=blocks.*.up gemm=output,grad_weight operand=input steps=4- every=2 file=%s
                dump module=head operand=weight steps=7 dir=%s
                off module=blocks.1.* gemm=grad_input
                off module=proj
                """.formatted(csv, dir.resolve("dumps"));
        List<QuantizationObserver> installed = DebugConfig.apply(text, "test");
        assertEquals(2, installed.size());
        StatisticsObserver stats = assertInstanceOf(StatisticsObserver.class, installed.get(0));
        assertInstanceOf(TensorDumpObserver.class, installed.get(1));
        assertTrue(stats.wants(new Site("blocks.0.up", Gemm.GRAD_WEIGHT, Operand.INPUT), 6));
        assertFalse(stats.wants(new Site("blocks.0.up", Gemm.GRAD_WEIGHT, Operand.INPUT), 5));
        assertFalse(stats.wants(new Site("blocks.0.up", Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT), 6));
        QuantizationObserver global = Float8Debug.observer();
        assertTrue(global.wants(new Site("head", Gemm.OUTPUT, Operand.WEIGHT), 7));
        assertFalse(global.wants(new Site("head", Gemm.OUTPUT, Operand.WEIGHT), 8));

        assertFalse(Float8Debug.fp8Enabled("blocks.1.up", Gemm.GRAD_INPUT));
        assertTrue(Float8Debug.fp8Enabled("blocks.1.up", Gemm.OUTPUT));
        assertTrue(Float8Debug.fp8Enabled("blocks.0.up", Gemm.GRAD_INPUT));
        for (Gemm g : Gemm.values()) {
            assertFalse(Float8Debug.fp8Enabled("proj", g));
        }
        assertTrue(Files.readString(csv).startsWith("step,module,gemm,operand"));
        ((StatisticsObserver) installed.get(0)).close();
    }

    @Test
    void badConfigNamesTheLineAndAppliesNothing() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DebugConfig.apply("off module=a\nstats gemm=outptu\n", "my.cfg"));
        assertTrue(e.getMessage().contains("my.cfg, line 2") && e.getMessage().contains("outptu"), e.getMessage());
        assertTrue(Float8Debug.fp8Enabled("a", Gemm.OUTPUT), "the valid first line must not have been applied");
        assertNull(Float8Debug.observer());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DebugConfig.apply("watch module=a", "x")).getMessage()
                .contains("unknown directive"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DebugConfig.apply("dump module=a", "x")).getMessage()
                .contains("dir="));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DebugConfig.apply("off steps=3", "x")).getMessage()
                .contains("no option 'steps'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DebugConfig.apply("stats steps=9-3", "x")).getMessage()
                .contains("line 1"));
    }

    @Test
    void observersCanBeAddedAndRemovedOneByOne() {
        StatisticsObserver a = new StatisticsObserver(Selection.all());
        StatisticsObserver b = new StatisticsObserver(Selection.all());
        Float8Debug.addObserver(a);
        assertEquals(a, Float8Debug.observer());
        Float8Debug.addObserver(b);
        assertInstanceOf(CompositeObserver.class, Float8Debug.observer());
        Float8Debug.removeObserver(a);
        assertEquals(b, Float8Debug.observer());
        Float8Debug.removeObserver(b);
        assertNull(Float8Debug.observer());
    }
}
