package dev.float8j.runtime.nn;

import dev.float8j.runtime.DType;
import java.lang.reflect.Field;
import java.lang.reflect.InaccessibleObjectException;
import java.lang.reflect.Modifier;
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

    /**
     * Puts replacement in the place of the child registered as name and returns the child it replaced, which
     * leaves the tree (its parent is cleared, so it can be put back or placed elsewhere). The replacement takes
     * the child's fully qualified name. Before anything changes, {@link #onReplaceChild} lets this module point
     * its own references at the replacement, or refuse; a refused or invalid call changes nothing.
     *
     * @throws IllegalArgumentException when no child has that name or replacement already has a parent
     * @throws IllegalStateException when this module cannot use the replacement (see {@link #onReplaceChild})
     */
    public final Module replaceChild(String name, Module replacement) {
        Module previous = children.get(name);
        if (previous == null) {
            throw new IllegalArgumentException(this + " has no child '" + name + "'; its children are " + children.keySet());
        }
        if (replacement == null) {
            throw new IllegalArgumentException("the replacement of " + previous.name() + " is null");
        }
        if (replacement == previous) {
            return previous;
        }
        if (replacement.parent != null) {
            throw new IllegalArgumentException("the replacement of " + previous.name() + " already has a parent: it is "
                    + replacement.name());
        }
        onReplaceChild(name, previous, replacement);
        children.put(name, replacement);
        replacement.parent = this;
        replacement.localName = name;
        previous.parent = null;
        previous.localName = "";
        return previous;
    }

    /**
     * Called by {@link #replaceChild} before the tree changes, so that this module's forward and backward use the
     * replacement from now on. The default points every instance field of this module that holds the previous
     * child at the replacement, and refuses (changing nothing) when such a field is final or cannot hold the
     * replacement's type. A module that keeps children elsewhere (a list, a map) overrides this to update them;
     * an override that throws refuses the replacement. Fields are reached by reflection: a module in a named
     * module must open its package to dev.float8j.runtime, or override this.
     */
    protected void onReplaceChild(String name, Module previous, Module replacement) {
        List<Field> holding = new ArrayList<>();
        for (Class<?> c = getClass(); c != Module.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || f.isSynthetic() || f.getType().isPrimitive()
                        || !f.getType().isAssignableFrom(previous.getClass())) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    if (f.get(this) != previous) {
                        continue;
                    }
                } catch (InaccessibleObjectException | IllegalAccessException e) {
                    throw new IllegalStateException("cannot replace " + previous.name() + ": field " + c.getName() + "."
                            + f.getName() + " is not accessible to float8j (open its package to dev.float8j.runtime, or"
                            + " override onReplaceChild)", e);
                }
                String field = c.getSimpleName() + "." + f.getName();
                if (Modifier.isFinal(f.getModifiers())) {
                    throw new IllegalStateException("cannot replace " + previous.name() + ": the final field " + field
                            + " holds it, so " + getClass().getSimpleName() + " would keep using the old module; make the"
                            + " field non-final or override onReplaceChild");
                }
                if (!f.getType().isInstance(replacement)) {
                    throw new IllegalStateException("cannot replace " + previous.name() + ": field " + field + " of type "
                            + f.getType().getSimpleName() + " cannot hold a " + replacement.getClass().getSimpleName());
                }
                holding.add(f);
            }
        }
        try {
            for (Field f : holding) {
                f.set(this, replacement);
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot set a field of " + this + " that holds " + previous.name(), e);
        }
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

    /** The module holding this one, or null for a root. */
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

    /** Every parameter of this module and its descendants, in registration order. */
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
        moveTo(backend, DType.F32);
    }

    /**
     * {@link #moveTo(dev.float8j.runtime.backend.Backend)}, with every gradient kept on the device in gradDType: F32,
     * or BF16 (see {@link Parameter#moveTo(dev.float8j.runtime.backend.Backend, DType)}: the precision PyTorch's
     * autocast computes weight gradients in, and half the bytes for the optimizer and the gradient norm to read).
     */
    public final void moveTo(dev.float8j.runtime.backend.Backend backend, DType gradDType) {
        for (Parameter p : parameters()) {
            p.moveTo(backend, gradDType);
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
