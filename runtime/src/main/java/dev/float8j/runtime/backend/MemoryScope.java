package dev.float8j.runtime.backend;

/**
 * The device memory of every tensor a backend makes while this scope is its innermost open one, handed back when it
 * closes, without waiting for the garbage collector: a training step's activations, FP8 copies and intermediate
 * gradients. What must outlive the scope (parameters, their gradients, optimizer moments) must be made before it
 * opens. On host backends the scope does nothing: the collector reclaims host arrays quickly enough. See
 * {@link Backend#openScope()}.
 */
public interface MemoryScope extends AutoCloseable {
    @Override
    void close();
}
