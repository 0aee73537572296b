package dev.float8j.runtime.debug;

import dev.float8j.plan.Gemm;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The program-wide switchboard of FP8 debugging: the observer that sees quantizations, the training step
 * they are tagged with, and the gemms forced to high precision to bisect a numerics problem.
 *
 * <p>With no observer and nothing switched off, every check here is a field read: no statistics, no allocation.
 *
 * <p>At class initialization it applies the text configuration named by the system properties
 * {@code float8j.debug} and {@code float8j.debug.file}, if set (see {@link DebugConfig}).
 */
public final class Float8Debug {
    private static volatile QuantizationObserver observer;
    private static volatile long step;
    private static final List<Fp8Off> switchedOff = new CopyOnWriteArrayList<>();
    private static volatile boolean anySwitchedOff;

    /** A rule that runs the matching gemms in high precision: module names matching a glob, one gemm or all. */
    public record Fp8Off(String moduleGlob, Gemm gemm) {
        boolean matches(String module, Gemm g) {
            return (gemm == null || gemm == g) && Globs.matches(moduleGlob, module);
        }
    }

    private Float8Debug() {
    }

    /** The observer now offered every quantization, or null. */
    public static QuantizationObserver observer() {
        return observer;
    }

    /** Installs an observer (null removes it), replacing any present. */
    public static void observe(QuantizationObserver o) {
        observer = o;
    }

    /** Installs an observer beside those present: each sees the quantizations it selects. */
    public static synchronized void addObserver(QuantizationObserver o) {
        QuantizationObserver present = observer;
        if (present == null) {
            observer = o;
        } else if (present instanceof CompositeObserver c) {
            List<QuantizationObserver> all = new java.util.ArrayList<>(c.observers());
            all.add(o);
            observer = new CompositeObserver(all);
        } else {
            observer = new CompositeObserver(List.of(present, o));
        }
    }

    /** Removes one observer installed by {@link #observe} or {@link #addObserver}, leaving the others. */
    public static synchronized void removeObserver(QuantizationObserver o) {
        QuantizationObserver present = observer;
        if (present == o) {
            observer = null;
        } else if (present instanceof CompositeObserver c && c.observers().contains(o)) {
            List<QuantizationObserver> rest = new java.util.ArrayList<>(c.observers());
            rest.remove(o);
            observer = rest.size() == 1 ? rest.get(0) : new CompositeObserver(rest);
        }
    }

    /** The training step that observations are filed under. */
    public static long step() {
        return step;
    }

    /** Tags the quantizations that follow with this training step. */
    public static void setStep(long s) {
        step = s;
    }

    /** Runs the gemm (null: all three gemms) of every module whose name matches moduleGlob in high precision. */
    public static void switchOff(String moduleGlob, Gemm gemm) {
        switchedOff.add(new Fp8Off(moduleGlob, gemm));
        anySwitchedOff = true;
    }

    /** Turns FP8 back on everywhere. */
    public static void clearSwitches() {
        switchedOff.clear();
        anySwitchedOff = false;
    }

    /** Whether this gemm of this module runs in FP8, given the switches. */
    public static boolean fp8Enabled(String module, Gemm gemm) {
        if (!anySwitchedOff) {
            return true;
        }
        for (Fp8Off off : switchedOff) {
            if (off.matches(module, gemm)) {
                return false;
            }
        }
        return true;
    }

    static {
        DebugConfig.applySystemProperties();
    }
}
