package dev.float8j.runtime;

import java.util.Objects;

/** The backend that layers use when none is given explicitly: one setting for the whole program. */
public final class Backends {
    private static volatile Backend current = new ReferenceBackend();

    private Backends() {
    }

    public static Backend current() {
        return current;
    }

    /** Makes backend the default for every layer from now on. */
    public static void use(Backend backend) {
        current = Objects.requireNonNull(backend, "backend");
    }
}
