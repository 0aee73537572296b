package dev.float8j.runtime.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A node of the model tree. A module's fully qualified name comes from its place in the tree, as in
 * PyTorch: the root is "", its child "blocks" holds "0", which holds "mlp", which holds "up", so that
 * layer is {@code blocks.0.mlp.up}.
 */
public abstract class Module {
    /** Counts registrations anywhere: a name cached at one count is current while the count is unchanged. */
    private static final AtomicInteger TREE_EDITS = new AtomicInteger();
    private Module parent;
    private String localName = "";
    private final Map<String, Module> children = new LinkedHashMap<>();
    private final Map<String, Parameter> parameters = new LinkedHashMap<>();

    /** Registers a child under a local name and returns it. */
    protected final <M extends Module> M child(String name, M module) {
        checkLocalName(name);
        Module m = module;
        if (m.parent != null) {
            throw new IllegalArgumentException("module " + m.name() + " already has a parent");
        }
        if (children.putIfAbsent(name, m) != null) {
            throw new IllegalArgumentException("module " + qualify(name) + " is registered twice");
        }
        m.parent = this;
        m.localName = name;
        TREE_EDITS.incrementAndGet();
        return module;
    }

    /** Registers a parameter under a local name and returns it. */
    protected final Parameter parameter(String name, dev.float8j.runtime.Tensor initial) {
        checkLocalName(name);
        Parameter p = new Parameter(this, name, initial);
        if (parameters.putIfAbsent(name, p) != null) {
            throw new IllegalArgumentException("parameter " + qualify(name) + " is registered twice");
        }
        return p;
    }

    private static void checkLocalName(String name) {
        if (name == null || name.isEmpty() || name.contains(".")) {
            throw new IllegalArgumentException("a local module or parameter name must be non-empty and contain no '.', got '"
                    + name + "'");
        }
    }

    /** The fully qualified name: "" for the root, e.g. {@code blocks.0.mlp.up} below it. */
    public final String name() {
        if (parent == null) {
            return "";
        }
        String parentName = parent.name();
        return parentName.isEmpty() ? localName : parentName + "." + localName;
    }

    /**
     * Changes whenever a module is registered anywhere, so that a name cached together with it is known to be
     * current (a module's name changes only when it or an ancestor is registered).
     */
    static int treeEdits() {
        return TREE_EDITS.get();
    }

    String qualify(String local) {
        String n = name();
        return n.isEmpty() ? local : n + "." + local;
    }

    public final Module parent() {
        return parent;
    }

    /** Direct children in registration order. */
    public final Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** This module and every descendant, depth first in registration order. */
    public final List<Module> modules() {
        List<Module> out = new ArrayList<>();
        collectModules(out);
        return out;
    }

    private void collectModules(List<Module> out) {
        out.add(this);
        for (Module c : children.values()) {
            c.collectModules(out);
        }
    }

    /** Every parameter of this module and its descendants, by fully qualified name, in registration order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        for (Module m : modules()) {
            for (Parameter p : m.parameters.values()) {
                out.put(p.name(), p);
            }
        }
        return out;
    }

    public final List<Parameter> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** Sets every gradient of this module and its descendants to zero. */
    public final void zeroGrad() {
        for (Parameter p : parameters()) {
            p.zeroGrad();
        }
    }

    /**
     * Drops every pending save of this module and its descendants: what forward kept for a backward that will not
     * come, e.g. after a step skipped for a NaN loss. The next backward of each layer then fails as having no
     * matching forward.
     */
    public final void discardSaved() {
        for (Module m : modules()) {
            m.discardOwnSaved();
        }
    }

    /** Drops this module's own pending saves (its children are asked separately); modules that save override it. */
    protected void discardOwnSaved() {
    }

    /**
     * Moves every parameter of this module and its descendants to where backend computes (see
     * {@link Parameter#moveTo}); layers then take device inputs and return device outputs with no copies.
     */
    public final void moveTo(dev.float8j.runtime.backend.Backend backend) {
        for (Parameter p : parameters()) {
            p.moveTo(backend);
        }
    }

    /** Copies every parameter back to the host, for host optimizers and checkpoints. */
    public final void moveToHost() {
        for (Parameter p : parameters()) {
            p.moveToHost();
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + (name().isEmpty() ? "<root>" : name()) + ")";
    }
}
