package dev.float8j.processor;

import com.palantir.javapoet.ClassName;
import javax.lang.model.element.TypeElement;

/**
 * What the processor knows about one {@code @Float8} layer once the annotation is read and checked: for each gemm
 * and each operand whether it is quantized, along which axis, in which format and granularity, and what forward
 * saves for backward. The writer turns this, and only this, into code.
 */
record LayerModel(TypeElement type, ClassName annotated, ClassName generated, GemmModel output, GemmModel gradInput,
        GemmModel gradWeight, String backward, SavedInput savedInput) {

    boolean anyFp8() {
        return output.fp8() || gradInput.fp8() || gradWeight.fp8();
    }

    /** The tensors entering the gemms, with the names the generated code gives them. */
    enum Role {
        INPUT("input", "x", "x", "INPUT"),
        WEIGHT("weight", "w", "W", "WEIGHT"),
        GRAD_OUTPUT("gradOutput", "dY", "dY", "GRAD_OUTPUT");

        final String attribute;
        final String variable;
        /** How formulas and comments write it. */
        final String symbol;
        final String operandConstant;

        Role(String attribute, String variable, String symbol, String operandConstant) {
            this.attribute = attribute;
            this.variable = variable;
            this.symbol = symbol;
            this.operandConstant = operandConstant;
        }
    }

    /** The three gemms, their operands in the order the backend takes them, and the axis each is summed along. */
    enum GemmKind {
        OUTPUT("output", "output", "y = x * W^T", Role.INPUT, 1, Role.WEIGHT, 1, "K"),
        GRAD_INPUT("gradInput", "grad_input", "dX = dY * W", Role.GRAD_OUTPUT, 1, Role.WEIGHT, 0, "N"),
        GRAD_WEIGHT("gradWeight", "grad_weight", "dW = dY^T * x", Role.GRAD_OUTPUT, 0, Role.INPUT, 0, "M");

        final String attribute;
        final String title;
        final String formula;
        final Role first;
        final int firstAxis;
        final Role second;
        final int secondAxis;
        /** The dimension the gemm sums over: K of x[M,K] and W[N,K], N of dY[M,N], or M. */
        final String summed;

        GemmKind(String attribute, String title, String formula, Role first, int firstAxis, Role second, int secondAxis,
                String summed) {
            this.attribute = attribute;
            this.title = title;
            this.formula = formula;
            this.first = first;
            this.firstAxis = firstAxis;
            this.second = second;
            this.secondAxis = secondAxis;
            this.summed = summed;
        }

        boolean has(Role role) {
            return role == first || role == second;
        }

        /** e.g. "GRAD_INPUT" for generated constants and the runtime's Gemm enum. */
        String constant() {
            return name();
        }
    }

    /** One quantized operand of one gemm. Format and granularity are the runtime's Fp8Format and ScalingGranularity names. */
    record OperandModel(GemmKind gemm, Role role, int axis, String format, String granularity, boolean powerOfTwo) {

        boolean transposeable() {
            return granularity.equals("TENSORWISE") || granularity.equals("BLOCK_128X128");
        }

        /** Same quantization as other, possibly along another axis. */
        boolean sameScaling(OperandModel other) {
            return format.equals(other.format) && granularity.equals(other.granularity) && powerOfTwo == other.powerOfTwo;
        }

        /** e.g. DY_FOR_GRAD_INPUT. */
        String specConstant() {
            return role.variable.toUpperCase() + "_FOR_" + gemm.constant();
        }

        /** e.g. dYForGradInputSite. */
        String siteField() {
            return role.variable + "For" + Character.toUpperCase(gemm.attribute.charAt(0)) + gemm.attribute.substring(1) + "Site";
        }

        /** e.g. dYAlongN. */
        String local() {
            return role.variable + "Along" + gemm.summed;
        }

        /** e.g. "E4M3FN ROWWISE along K (axis 1)". */
        String describe() {
            return format + " " + granularity + (powerOfTwo && !granularity.equals("MX_1X32") ? " power-of-two scales" : "")
                    + " along " + gemm.summed + " (axis " + axis + ")";
        }
    }

    /** A gemm: FP8 with both operands quantized, or high precision (both null). */
    record GemmModel(GemmKind kind, OperandModel first, OperandModel second) {
        boolean fp8() {
            return first != null;
        }
    }

    /** How grad_weight gets x along M; mirrors the runtime's Float8Plan.SavedInput. */
    enum SavedInput {
        HIGH_PRECISION,
        FORWARD_FP8_TRANSPOSED,
        FORWARD_FP8_REQUANTIZED,
        BOTH_AXES_COPY;

        boolean fp8() {
            return this != HIGH_PRECISION;
        }
    }
}
