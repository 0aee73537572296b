package dev.float8j.runtime.nn;

import dev.float8j.runtime.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Layers reading one input, run the way the tests that compare two ways of running them do. */
final class LayerPasses {
    private LayerPasses() {
    }

    /**
     * Every layer's forward on x (through one {@link SharedInput} when shared), then betweenPasses, then every layer's
     * backward from the last, each from a dY of x's rows drawn with seed 10 + its index: the outputs in order, then
     * per layer from the last its dX and its weight's gradient.
     */
    static List<float[]> forwardThenBackward(List<Linear> layers, Tensor x, boolean shared, Runnable betweenPasses) {
        List<Tensor> ys = new ArrayList<>();
        if (shared) {
            try (SharedInput in = SharedInput.of(x)) {
                layers.forEach(l -> ys.add(l.forward(in)));
            }
        } else {
            layers.forEach(l -> ys.add(l.forward(x)));
        }
        List<float[]> out = new ArrayList<>();
        ys.forEach(y -> out.add(y.toFloatArray()));
        betweenPasses.run();
        for (int i = layers.size() - 1; i >= 0; i--) {
            Linear l = layers.get(i);
            out.add(l.backward(gradOutput(x.rows(), l.outFeatures(), 10 + i)).toFloatArray());
            out.add(l.weight().grad().toFloatArray());
        }
        return out;
    }

    /** A rows x cols gradient drawn with seed, small beside the layers' outputs. */
    static Tensor gradOutput(int rows, int cols, long seed) {
        Init.seed(seed);
        return Tensor.of(Init.normal(rows * cols, 0.1f), rows, cols);
    }
}
