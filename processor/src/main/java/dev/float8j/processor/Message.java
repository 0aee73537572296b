package dev.float8j.processor;

import javax.tools.Diagnostic;

/** Every diagnostic the processor reports: what is wrong, and what to change. */
enum Message {
    NOT_A_CLASS(Diagnostic.Kind.ERROR,
            "@Float8 goes on a class that extends dev.float8j.runtime.nn.Linear, but %s is %s"),
    RUNTIME_MISSING(Diagnostic.Kind.ERROR,
            "dev.float8j.runtime.nn.Linear is not on the compile classpath: add the dependency dev.float8j:float8j-runtime"),
    NOT_LINEAR(Diagnostic.Kind.ERROR,
            "%s does not extend dev.float8j.runtime.nn.Linear (its superclass is %s): @Float8 layers must extend Linear"),
    ABSTRACT_CLASS(Diagnostic.Kind.ERROR,
            "%s is abstract, so its FP8 version could not be instantiated: remove 'abstract' or annotate a concrete subclass"),
    INNER_CLASS(Diagnostic.Kind.ERROR,
            "%s is an inner class, which needs an enclosing instance to be created: declare it 'static'"),
    LOCAL_CLASS(Diagnostic.Kind.ERROR,
            "%s is a local or anonymous class, which no generated class can extend: make it a top-level or static nested class"),
    GENERATED_NAME_CLASH(Diagnostic.Kind.ERROR,
            "%s and %s would both generate %s: rename one of them"),
    GENERATED_NAME_TAKEN(Diagnostic.Kind.ERROR,
            "the generated class %s would replace the class of that name already in this compilation: rename %s or %s"),
    PRIVATE_CLASS(Diagnostic.Kind.ERROR,
            "%s is private, so the generated %s cannot extend it: make it package-private or public"),
    FINAL_CLASS(Diagnostic.Kind.ERROR,
            "%s is final, so the generated %s cannot extend it: remove 'final'"),
    GENERIC_CLASS(Diagnostic.Kind.ERROR,
            "%s declares type parameters, which the generated %s could not fill in: remove them"),
    NO_SIZE_CONSTRUCTOR(Diagnostic.Kind.ERROR,
            "%s has no non-private constructor (int inFeatures, int outFeatures) for the generated class to call: "
                    + "add one that calls super(inFeatures, outFeatures)"),
    REPLACED_METHOD(Diagnostic.Kind.ERROR,
            "%s would never run: the generated %s replaces it with the FP8 version; remove it, and put extra work in "
                    + "a module around the layer"),
    RECIPE_GRANULARITY_CONFLICT(Diagnostic.Kind.ERROR,
            "recipe %s uses %s granularity, which contradicts granularity = %s: remove granularity, or set recipe = NONE"),
    FAST_ACCUMULATION_GRAD_WEIGHT(Diagnostic.Kind.ERROR,
            "the grad_weight gemm adds into the weight's F32 gradient at full precision, so it has no fast accumulation: "
                    + "remove fastAccumulation, or set it on output or gradInput"),
    FAST_ACCUMULATION_HIGH_PRECISION(Diagnostic.Kind.ERROR,
            "the %s gemm runs in high precision, so it has no fast accumulation (an FP8 tensor-core setting): "
                    + "remove fastAccumulation, or quantize the gemm"),
    RECIPE_HIGH_PRECISION_CONFLICT(Diagnostic.Kind.ERROR,
            "recipe ROWWISE_GW_HP runs grad_weight in high precision, which contradicts gradWeight highPrecision = false: "
                    + "remove highPrecision, or use recipe = ROWWISE"),
    RECIPE_OPERAND_CONFLICT(Diagnostic.Kind.ERROR,
            "recipe %s quantizes the %s of the %s gemm with %s, which contradicts granularity = %s: remove this "
                    + "granularity, or set recipe = NONE and say the layer's granularity explicitly"),
    OPERAND_NOT_IN_GEMM(Diagnostic.Kind.ERROR,
            "the %s gemm (%s) has no %s operand: its operands are %s and %s"),
    SETTINGS_ON_HIGH_PRECISION_GEMM(Diagnostic.Kind.ERROR,
            "the %s gemm runs in high precision, so its %s is not quantized and %s = %s contradicts that: remove it, "
                    + "or run the gemm in FP8"),
    MIXED_PRECISION_GEMM(Diagnostic.Kind.ERROR,
            "the %s gemm would multiply a high-precision %s with an FP8 %s, which float8j does not support: remove "
                    + "highPrecision here, or keep the whole gemm in high precision with %s = @GemmConfig(highPrecision = true)"),
    BLOCKS_ON_ACTIVATIONS(Diagnostic.Kind.ERROR,
            "128x128 blocks cannot serve the %s of the %s gemm: activations and gradients vary token by token, and one "
                    + "outlier token would set the scale of up to 127 others; use TILE_1X128 (DeepSeek-V3's choice) or ROWWISE"),
    MX_PARTNER(Diagnostic.Kind.ERROR,
            "the %s gemm pairs an MX_1X32 %s with a %s %s, but an MX gemm scales both operands in 1x32 blocks with E8M0 "
                    + "scales: make both operands MX_1X32, or neither"),
    MX_WITHOUT_POWER_OF_TWO(Diagnostic.Kind.ERROR,
            "MX scales are powers of two (E8M0) by definition, which contradicts powerOfTwoScales = false: remove powerOfTwoScales"),
    AMAX_HISTORY_RANGE(Diagnostic.Kind.ERROR,
            "amaxHistory = %d is outside what an amax history holds: use 1 to 1024 amaxes, or %s"),
    AMAX_HISTORY_NOT_TENSORWISE(Diagnostic.Kind.ERROR,
            "the %s of the %s gemm is quantized %s, and delayed scaling keeps one amax per cast, so it needs one scale "
                    + "per tensor: remove amaxHistory here, or make the operand TENSORWISE"),
    AMAX_HISTORY_WITHOUT_TENSORWISE(Diagnostic.Kind.ERROR,
            "amaxHistory = %d reaches no operand: delayed scaling applies to TENSORWISE operands of FP8 gemms, and this "
                    + "layer has none; remove amaxHistory"),
    AMAX_REDUCTION_WITHOUT_HISTORY(Diagnostic.Kind.ERROR,
            "amaxReduction = %s does nothing: no operand of this layer has an amax history; set amaxHistory, or remove "
                    + "amaxReduction"),
    POLICY_IGNORED_TRANSPOSEABLE(Diagnostic.Kind.WARNING,
            "backward = %s does nothing here: x is quantized %s for both output and grad_weight, which is transposeable, so "
                    + "grad_weight reuses the forward FP8 x exactly; remove backward"),
    POLICY_IGNORED_HIGH_PRECISION(Diagnostic.Kind.WARNING,
            "backward = %s does nothing here: the %s gemm runs in high precision, so forward saves x in high precision; "
                    + "remove backward"),
    BOTH_OPERANDS_HIGH_PRECISION(Diagnostic.Kind.WARNING,
            "both operands of the %s gemm are high precision: say it once with %s = @GemmConfig(highPrecision = true)"),
    NO_FP8_GEMM(Diagnostic.Kind.WARNING,
            "every gemm of %s runs in high precision, so @Float8 only adds overhead: quantize at least one gemm, or remove @Float8");

    final Diagnostic.Kind kind;
    private final String format;

    Message(Diagnostic.Kind kind, String format) {
        this.kind = kind;
        this.format = format;
    }

    String format(Object... args) {
        return String.format(format, args);
    }
}
