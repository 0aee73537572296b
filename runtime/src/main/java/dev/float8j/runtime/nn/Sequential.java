package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Layers applied one after another; the children are named "0", "1", ... as in PyTorch. */
public final class Sequential extends Module implements Layer {
    private final List<Layer> layers = new ArrayList<>();

    /** The layers in order, named "0", "1", ... */
    public Sequential(Layer... layers) {
        for (Layer layer : layers) {
            add(layer);
        }
    }

    /** Appends a layer (which must be a Module) and returns it. */
    public <L extends Layer> L add(L layer) {
        if (!(layer instanceof Module m)) {
            throw new IllegalArgumentException("Sequential holds modules; " + layer.getClass().getName() + " is not one");
        }
        child(Integer.toString(layers.size()), m);
        layers.add(layer);
        return layer;
    }

    /** Keeps the layer list in step with the tree: the replacement runs where the previous layer ran. */
    @Override
    protected void onReplaceChild(String name, Module previous, Module replacement) {
        if (!(replacement instanceof Layer layer)) {
            throw new IllegalStateException("cannot replace " + previous.name() + ": Sequential holds layers; "
                    + replacement.getClass().getName() + " is not one");
        }
        layers.set(Integer.parseInt(name), layer);
    }

    /** The layer at index. */
    public Layer get(int index) {
        return layers.get(index);
    }

    /** How many layers. */
    public int size() {
        return layers.size();
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Layer layer : layers) {
            h = layer.forward(h);
        }
        return h;
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        Tensor g = gradOutput;
        for (int i = layers.size() - 1; i >= 0; i--) {
            g = layers.get(i).backward(g);
        }
        return g;
    }
}
