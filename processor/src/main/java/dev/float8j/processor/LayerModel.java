package dev.float8j.processor;

import com.palantir.javapoet.ClassName;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import javax.lang.model.element.TypeElement;

/**
 * What the processor knows about one {@code @Float8} layer once the annotation is read and checked: the
 * {@link Float8Plan} it resolves to (the same object the runtime builds for that plan), with each gemm's operands
 * named as the generated code names them, and whether the layer has a constructor (int, int, boolean bias) for the
 * generated class to pass on. The writer turns this, and only this, into code.
 */
record LayerModel(TypeElement type, ClassName annotated, ClassName generated, GemmModel output, GemmModel gradInput,
        GemmModel gradWeight, Float8Plan plan, boolean biasConstructor) {

    /** What forward saves for grad_weight, as the runtime decides it. */
    Float8Plan.SavedInput savedInput() {
        return plan.savedInput();
    }

    /** The tensors entering the gemms, with the names the generated code gives them. */
    enum Role {
        INPUT("input", "x", "x", Operand.INPUT),
        WEIGHT("weight", "w", "W", Operand.WEIGHT),
        GRAD_OUTPUT("gradOutput", "dY", "dY", Operand.GRAD_OUTPUT);

        final String attribute;
        final String variable;
        /** How formulas and comments write it. */
        final String symbol;
        final Operand operand;

        Role(String attribute, String variable, String symbol, Operand operand) {
            this.attribute = attribute;
            this.variable = variable;
            this.symbol = symbol;
            this.operand = operand;
        }
    }

    /** The three gemms, their operands in the order the backend takes them, and the axis each is summed along. */
    enum GemmKind {
        OUTPUT(Gemm.OUTPUT, "output", "output", "y = x * W^T", Role.INPUT, Role.WEIGHT, "K"),
        GRAD_INPUT(Gemm.GRAD_INPUT, "gradInput", "grad_input", "dX = dY * W", Role.GRAD_OUTPUT, Role.WEIGHT, "N"),
        GRAD_WEIGHT(Gemm.GRAD_WEIGHT, "gradWeight", "grad_weight", "dW = dY^T * x", Role.GRAD_OUTPUT, Role.INPUT, "M");

        final Gemm gemm;
        final String attribute;
        final String title;
        final String formula;
        final Role first;
        final int firstAxis;
        final Role second;
        final int secondAxis;
        /** The dimension the gemm sums over: K of x[M,K] and W[N,K], N of dY[M,N], or M. */
        final String summed;

        GemmKind(Gemm gemm, String attribute, String title, String formula, Role first, Role second, String summed) {
            this.gemm = gemm;
            this.attribute = attribute;
            this.title = title;
            this.formula = formula;
            this.first = first;
            this.firstAxis = GemmPlan.firstAxis(gemm);
            this.second = second;
            this.secondAxis = GemmPlan.secondAxis(gemm);
            this.summed = summed;
        }

        boolean has(Role role) {
            return role == first || role == second;
        }
    }

    /** One quantized operand of one gemm, with its spec from the plan model. */
    record OperandModel(GemmKind gemm, Role role, QuantSpec spec) {

        /** e.g. DY_FOR_GRAD_INPUT. */
        String specConstant() {
            return role.variable.toUpperCase() + "_FOR_" + gemm.gemm.name();
        }

        /** e.g. "E4M3FN ROWWISE along K (axis 1)". */
        String describe() {
            return spec.format() + " " + spec.granularity()
                    + (spec.powerOfTwoScales() && !spec.granularity().powerOfTwoScalesOnly() ? " power-of-two scales" : "")
                    + " along " + gemm.summed + " (axis " + spec.axis() + ")"
                    + (spec.delayed() == null ? "" : ", scaled from the " + spec.delayed().reduction().name().toLowerCase()
                            .replace('_', ' ') + " of its last " + spec.delayed().historyLength() + " amaxes");
        }
    }

    /**
     * A gemm: FP8 with both operands quantized, or high precision (both null); fastAccumulation only for an FP8 output
     * or grad_input gemm.
     */
    record GemmModel(GemmKind kind, OperandModel first, OperandModel second, boolean fastAccumulation) {
        /** A gemm in high precision. */
        static GemmModel highPrecision(GemmKind kind) {
            return new GemmModel(kind, null, null, false);
        }

        boolean fp8() {
            return first != null;
        }

        GemmPlan plan() {
            return fp8() ? new GemmPlan(kind.gemm, first.spec(), second.spec(), fastAccumulation)
                    : GemmPlan.highPrecision(kind.gemm);
        }
    }
}
