package dev.float8j.annotations;

/** Named plans. A recipe fixes every operand's granularity (and, for one of them, a high-precision gemm). */
public enum Recipe {
    /** No recipe: the plan comes from {@link Float8#granularity()} and the per-gemm overrides. */
    NONE,
    /** One scale per tensor for every operand. */
    TENSORWISE,
    /** One scale per row along the summed axis for every operand (torchao's rowwise). */
    ROWWISE,
    /** Rowwise, with grad_weight in high precision (torchao's rowwise_with_gw_hp). */
    ROWWISE_GW_HP,
    /** DeepSeek-V3: 1x128 tiles for x and dY, 128x128 blocks for W. */
    BLOCKWISE,
    /** OCP Microscaling: 1x32 blocks with E8M0 scales for every operand. */
    MX
}
