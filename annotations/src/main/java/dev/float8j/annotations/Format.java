package dev.float8j.annotations;

/** FP8 formats an operand can be quantized to. */
public enum Format {
    /** E4M3 for every operand (the measured choice, see docs/annotations.md). */
    DEFAULT,
    /** 4 exponent bits, 3 mantissa bits, max 448: more precision. */
    E4M3,
    /** 5 exponent bits, 2 mantissa bits, max 57344: more range. */
    E5M2
}
