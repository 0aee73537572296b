package dev.float8j.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** How one operand of one gemm is quantized; unset values come from the layer's recipe or granularity. */
@Documented
@Retention(RetentionPolicy.CLASS)
@Target({})
public @interface OperandConfig {

    /** The operand's scaling blocks; {@link OperandGranularity#INHERIT} takes the layer's. */
    OperandGranularity granularity() default OperandGranularity.INHERIT;

    /** The operand's FP8 format; {@link Format#DEFAULT} is E4M3. */
    Format format() default Format.DEFAULT;

    /**
     * Keep this operand in high precision. A gemm multiplies either two FP8 operands or two high-precision
     * ones, so this is only legal when the other operand is high precision too: prefer
     * {@link GemmConfig#highPrecision()}.
     */
    boolean highPrecision() default false;

    /**
     * This operand's amax history for delayed scaling: -1 (the default) takes the layer's {@link Float8#amaxHistory()},
     * 0 current scaling, 1 to 1024 that many amaxes. Only for a TENSORWISE operand.
     */
    int amaxHistory() default -1;
}
