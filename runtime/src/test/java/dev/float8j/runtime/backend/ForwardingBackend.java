package dev.float8j.runtime.backend;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;

/**
 * A test double's base: a backend that hands each of {@link Backend}'s abstract operations to another one, so that a
 * double overrides only what it records or changes. The interface's default methods stay the defaults.
 */
public class ForwardingBackend implements Backend {
    protected final Backend inner;

    public ForwardingBackend(Backend inner) {
        this.inner = inner;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public Float8Tensor quantize(Tensor x, QuantSpec spec) {
        return inner.quantize(x, spec);
    }

    @Override
    public Tensor dequantize(Float8Tensor q) {
        return inner.dequantize(q);
    }

    @Override
    public Float8Tensor requantize(Float8Tensor q, QuantSpec spec) {
        return inner.requantize(q, spec);
    }

    @Override
    public Tensor gemm(Float8Tensor a, Float8Tensor b) {
        return inner.gemm(a, b);
    }

    @Override
    public Tensor matmul(Tensor a, int aAxis, Tensor b, int bAxis) {
        return inner.matmul(a, aAxis, b, bAxis);
    }
}
