package dev.float8j.runtime.debug;

import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;
import java.util.EnumSet;
import java.util.Set;

/**
 * Which quantizations an observer looks at: module names matching a glob ('*' any run, '?' one character),
 * some gemms, some operands, steps in [firstStep, lastStep] and, within those, every n-th step
 * (counted from firstStep).
 */
public record Selection(String moduleGlob, Set<Gemm> gemms, Set<Operand> operands, long firstStep, long lastStep,
        long every) {

    /** Checks the fields. */
    public Selection {
        if (moduleGlob == null || moduleGlob.isEmpty()) {
            throw new IllegalArgumentException("a module glob is required ('*' selects every module)");
        }
        if (gemms.isEmpty() || operands.isEmpty()) {
            throw new IllegalArgumentException("select at least one gemm and one operand");
        }
        if (firstStep < 0 || lastStep < firstStep || every < 1) {
            throw new IllegalArgumentException("need 0 <= firstStep <= lastStep and every >= 1; got steps " + firstStep + ".."
                    + lastStep + " every " + every);
        }
        gemms = Set.copyOf(gemms);
        operands = Set.copyOf(operands);
    }

    /** Every module, gemm, operand and step. */
    public static Selection all() {
        return new Selection("*", EnumSet.allOf(Gemm.class), EnumSet.allOf(Operand.class), 0, Long.MAX_VALUE, 1);
    }

    /** This selection with another module glob. */
    public Selection modules(String glob) {
        return new Selection(glob, gemms, operands, firstStep, lastStep, every);
    }

    /** This selection restricted to the given gemms. */
    public Selection gemms(Gemm first, Gemm... more) {
        return new Selection(moduleGlob, EnumSet.of(first, more), operands, firstStep, lastStep, every);
    }

    /** This selection restricted to the given operands. */
    public Selection operands(Operand first, Operand... more) {
        return new Selection(moduleGlob, gemms, EnumSet.of(first, more), firstStep, lastStep, every);
    }

    /** Steps first..last, both included. */
    public Selection steps(long first, long last) {
        return new Selection(moduleGlob, gemms, operands, first, last, every);
    }

    /** This selection taking every n-th step of its range. */
    public Selection every(long n) {
        return new Selection(moduleGlob, gemms, operands, firstStep, lastStep, n);
    }

    /** True when the quantization at site in step is selected. */
    public boolean matches(Site site, long step) {
        return step >= firstStep && step <= lastStep && (step - firstStep) % every == 0 && gemms.contains(site.gemm())
                && operands.contains(site.operand()) && Globs.matches(moduleGlob, site.module());
    }
}
