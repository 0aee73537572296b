package dev.float8j.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Settings for one gemm of a {@link Float8} layer. Only the operands the gemm has may be set: output has
 * input and weight, gradInput has gradOutput and weight, gradWeight has gradOutput and input.
 */
@Documented
@Retention(RetentionPolicy.CLASS)
@Target({})
public @interface GemmConfig {

    /** Run this gemm in high precision (F32 accumulate on the unquantized operands). */
    boolean highPrecision() default false;

    /**
     * Let this FP8 gemm accumulate in the tensor cores' reduced precision where the hardware offers it (Hopper's FP8
     * fast accumulation; torchao's {@code use_fast_accum}, which torchao turns on for the output gemm). Output and
     * gradInput only; backends that sum in F32 ignore it.
     */
    boolean fastAccumulation() default false;

    /** The layer input x. */
    OperandConfig input() default @OperandConfig;

    /** The weight W. */
    OperandConfig weight() default @OperandConfig;

    /** The incoming gradient dY. */
    OperandConfig gradOutput() default @OperandConfig;
}
