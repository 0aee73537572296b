package dev.float8j.runtime.debug;

import dev.float8j.plan.Gemm;
import dev.float8j.plan.Operand;

/** Where a quantization happens: the module's fully qualified name, the gemm and the operand. */
public record Site(String module, Gemm gemm, Operand operand) {
    @Override
    public String toString() {
        return (module.isEmpty() ? "<root>" : module) + "/" + gemm.name().toLowerCase() + "/"
                + operand.name().toLowerCase();
    }
}
