package dev.float8j.runtime.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Modules kept in order under the names "0", "1", ... as in PyTorch; the owner decides how to call them. */
public final class ModuleList<M extends Module> extends Module {
    private final List<M> items = new ArrayList<>();

    /** Appends m and returns it. */
    public M add(M m) {
        child(Integer.toString(items.size()), m);
        items.add(m);
        return m;
    }

    public M get(int index) {
        return items.get(index);
    }

    public int size() {
        return items.size();
    }

    /** The modules in order (unmodifiable). */
    public List<M> items() {
        return Collections.unmodifiableList(items);
    }
}
