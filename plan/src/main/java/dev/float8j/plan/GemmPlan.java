package dev.float8j.plan;


/**
 * One gemm of a linear layer: either high precision (both specs null) or FP8 with a spec for each operand.
 * Operands and their axes follow the gemm convention of {@code dev.float8j.runtime.backend.Backend}:
 * output = gemm(x along 1, W along 1), grad_input = gemm(dY along 1, W along 0),
 * grad_weight = gemm(dY along 0, x along 0).
 *
 * <p>fastAccumulation lets an FP8 gemm accumulate in the tensor cores' reduced precision where the hardware offers it
 * (Hopper's FP8 fast accumulation: cuBLASLt's FAST_ACCUM, torchao's {@code use_fast_accum}, which torchao turns on for
 * the output gemm). It is a hint: backends that sum in F32 (the reference and the CPU) ignore it. Off by default, and
 * offered for the output and grad_input gemms; grad_weight adds into the weight's F32 gradient at full precision.
 */
public record GemmPlan(Gemm gemm, QuantSpec first, QuantSpec second, boolean fastAccumulation) {

    /**
     * Checks that the gemm is named, that both operands have a spec (FP8) or neither (high precision), and that fast
     * accumulation is asked for only where it exists.
     */
    public GemmPlan {
        if (gemm == null) {
            throw new IllegalArgumentException("gemm is required");
        }
        if ((first == null) != (second == null)) {
            Operand quantized = first != null ? firstOperand(gemm) : secondOperand(gemm);
            Operand kept = first != null ? secondOperand(gemm) : firstOperand(gemm);
            throw new IllegalArgumentException("the " + name(gemm) + " gemm quantizes its " + quantized.name().toLowerCase()
                    + " but not its " + kept.name().toLowerCase() + ": float8j does not mix FP8 and high-precision operands "
                    + "in one gemm; give both a spec, or neither (GemmPlan.highPrecision)");
        }
        if (first != null) {
            checkAxis(gemm, firstOperand(gemm), first, firstAxis(gemm));
            checkAxis(gemm, secondOperand(gemm), second, secondAxis(gemm));
        }
        if (fastAccumulation && first == null) {
            throw new IllegalArgumentException("the " + name(gemm) + " gemm runs in high precision: fast accumulation is"
                    + " for FP8 gemms");
        }
        if (fastAccumulation && gemm == Gemm.GRAD_WEIGHT) {
            throw new IllegalArgumentException("the grad_weight gemm adds into the weight's F32 gradient at full precision:"
                    + " fast accumulation is offered for the output and grad_input gemms");
        }
    }

    /** The gemm with full-precision accumulation. */
    public GemmPlan(Gemm gemm, QuantSpec first, QuantSpec second) {
        this(gemm, first, second, false);
    }

    /** This gemm with fast accumulation on or off. */
    public GemmPlan withFastAccumulation(boolean on) {
        return new GemmPlan(gemm, first, second, on);
    }

    /** The gemm in high precision: Backend.matmul on the unquantized operands. */
    public static GemmPlan highPrecision(Gemm gemm) {
        return new GemmPlan(gemm, null, null);
    }

    /** True when this gemm runs in FP8. */
    public boolean fp8() {
        return first != null;
    }

    /** The first operand: x for output, dY for grad_input and grad_weight. */
    public static Operand firstOperand(Gemm gemm) {
        return gemm == Gemm.OUTPUT ? Operand.INPUT : Operand.GRAD_OUTPUT;
    }

    /** The second operand: W for output and grad_input, x for grad_weight. */
    public static Operand secondOperand(Gemm gemm) {
        return gemm == Gemm.GRAD_WEIGHT ? Operand.INPUT : Operand.WEIGHT;
    }

    /** The axis the first operand is contracted along. */
    public static int firstAxis(Gemm gemm) {
        return gemm == Gemm.GRAD_WEIGHT ? 0 : 1;
    }

    /** The axis the second operand is contracted along. */
    public static int secondAxis(Gemm gemm) {
        return gemm == Gemm.OUTPUT ? 1 : 0;
    }

    /** The spec of operand in this gemm; null in a high-precision gemm. */
    public QuantSpec spec(Operand operand) {
        if (operand == firstOperand(gemm)) {
            return first;
        }
        if (operand == secondOperand(gemm)) {
            return second;
        }
        throw new IllegalArgumentException("the " + name(gemm) + " gemm has no " + operand.name().toLowerCase() + " operand");
    }

    private static void checkAxis(Gemm gemm, Operand operand, QuantSpec spec, int axis) {
        if (spec.axis() != axis) {
            throw new IllegalArgumentException("the " + operand.name().toLowerCase() + " of the " + name(gemm)
                    + " gemm is contracted along axis " + axis + ", its spec says axis " + spec.axis());
        }
    }

    static String name(Gemm gemm) {
        return gemm.name().toLowerCase();
    }

    @Override
    public String toString() {
        return name(gemm) + (fp8() ? "(" + firstOperand(gemm).name().toLowerCase() + ": " + describe(first) + ", "
                + secondOperand(gemm).name().toLowerCase() + ": " + describe(second)
                + (fastAccumulation ? ", fast accumulation" : "") + ")" : "(high precision)");
    }

    private static String describe(QuantSpec s) {
        return s.format() + " " + s.granularity() + " axis " + s.axis() + (s.powerOfTwoScales() ? " pow2" : "")
                + (s.delayed() == null ? "" : " " + s.delayed());
    }
}
