package dev.float8j.annotations;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs a linear layer's three gemms in FP8. Put it on a class that extends {@code dev.float8j.runtime.nn.Linear}
 * and has an accessible {@code (int inFeatures, int outFeatures)} constructor; the annotation processor checks the
 * plan and writes {@code <Name>Float8}, a subclass whose forward and backward passes follow it step by step.
 * Create layers with {@code Float8Layers.create(Name.class, in, out)}: {@code new Name(in, out)} would run in high
 * precision, so the runtime refuses it (the annotation is kept at run time for that check).
 *
 * <p>How the settings combine (docs/annotations.md has the full table):
 * <ol>
 *   <li>The base granularity is the {@link #recipe()}'s, or {@link #granularity()} when the recipe is
 *       {@link Recipe#NONE}. Naming a recipe and a different granularity is an error.</li>
 *   <li>A gemm runs in high precision when its {@link GemmConfig#highPrecision()} says so or the recipe says so
 *       ({@link Recipe#ROWWISE_GW_HP} for grad_weight).</li>
 *   <li>Each operand of an FP8 gemm takes the base granularity, expanded per operand ({@link Granularity#BLOCKWISE}
 *       is 1x128 for x and dY, 128x128 for W), unless its {@link OperandConfig#granularity()} overrides it; with a
 *       recipe, an operand granularity that differs from the recipe's is an error.</li>
 *   <li>Formats: E4M3 for x and W, E4M3 for dY (measured, see docs/annotations.md), unless an
 *       {@link OperandConfig#format()} overrides it. Recipes do not fix formats.</li>
 * </ol>
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface Float8 {

    /** A named plan; {@link Recipe#NONE} builds the plan from {@link #granularity()} and the overrides alone. */
    Recipe recipe() default Recipe.NONE;

    /** The base granularity when no recipe is named. */
    Granularity granularity() default Granularity.TENSORWISE;

    /** What forward saves for grad_weight when the input's scaling is not transposeable. */
    Backward backward() default Backward.KEEP_HIGH_PRECISION;

    /** Overrides for the output gemm y = x·Wᵀ (operands: input, weight). */
    GemmConfig output() default @GemmConfig;

    /** Overrides for the grad_input gemm dX = dY·W (operands: gradOutput, weight). */
    GemmConfig gradInput() default @GemmConfig;

    /** Overrides for the grad_weight gemm dW = dYᵀ·x (operands: gradOutput, input). */
    GemmConfig gradWeight() default @GemmConfig;

    /** Round every scale down to a power of two, so that rescaling adds no rounding error (MX always does). */
    boolean powerOfTwoScales() default false;

    /**
     * Delayed scaling (Transformer Engine's recipe) for every TENSORWISE operand: its scale comes from the last
     * amaxHistory amaxes of its earlier casts, so the cast reads its input once; 0 (the default) takes each scale
     * from the tensor being cast (current scaling). 1 to 1024; an operand's {@link OperandConfig#amaxHistory()}
     * overrides it. Rowwise, block and MX operands have no history and keep current scaling.
     */
    int amaxHistory() default 0;

    /** How a delayed operand's history becomes one amax; only with an {@link #amaxHistory()} somewhere. */
    AmaxReduction amaxReduction() default AmaxReduction.MAX;
}
