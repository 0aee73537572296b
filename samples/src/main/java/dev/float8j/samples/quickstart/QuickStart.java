package dev.float8j.samples.quickstart;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.nn.Activation;
import dev.float8j.runtime.nn.Float8Training;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Layer;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.train.AdamW;
import dev.float8j.runtime.train.MeanSquaredError;
import dev.float8j.runtime.train.Schedule;
import dev.float8j.runtime.train.Weights;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The training loop of the README's "Use it in your project", compiled and tested by the build: a model written with
 * plain high-precision layers, converted to FP8 in one call, trained with AdamW on a mean squared error and saved
 * as safetensors. Run it with {@code ./float8j run dev.float8j.samples.quickstart.QuickStart}.
 */
public final class QuickStart {

    /** A two-layer MLP as a user writes it: plain Linear layers in (non-final) fields, so conversion can swap them. */
    public static final class Mlp extends Module implements Layer {
        Linear up = child("up", new Linear(64, 256));
        Activation act = child("act", new Activation(Activation.Kind.GELU));
        Linear down = child("down", new Linear(256, 64));

        @Override
        public Tensor forward(Tensor x) {
            return down.forward(act.forward(up.forward(x)));
        }

        @Override
        public Tensor backward(Tensor gradOutput) {
            return up.backward(act.backward(down.backward(gradOutput)));
        }
    }

    private QuickStart() {
    }

    /** Trains an Mlp to reproduce its input for the given steps; returns the loss of every step. */
    public static float[] train(Mlp model, int steps) {
        Float8Training.convert(model, "rowwise", (name, linear) -> true);   // every Linear in FP8
        AdamW optimizer = new AdamW(model.parameters(), 3e-3, 0.0);
        Schedule schedule = Schedule.warmupCosine(3e-3, 3e-4, steps / 10, steps);
        MeanSquaredError loss = new MeanSquaredError();
        Tensor x = Tensor.of(Init.normal(32 * 64, 1f), 32, 64);
        float[] losses = new float[steps];
        for (int step = 0; step < steps; step++) {
            try (MemoryScope scope = Backends.current().openScope()) {      // on a GPU: frees the step's tensors
                optimizer.setLearningRate(schedule.rate(step));
                model.zeroGrad();
                float value = loss.forward(model.forward(x), x);             // learn to reproduce x
                model.backward(loss.backward());
                optimizer.step();
                losses[step] = value;
            }
        }
        return losses;
    }

    /** Trains for 200 steps, prints the loss, and writes mlp.safetensors. */
    public static void main(String[] args) throws IOException {
        Mlp model = new Mlp();
        float[] losses = train(model, 200);
        System.out.printf("loss %.4f -> %.4f%n", losses[0], losses[losses.length - 1]);
        Weights.save(model, Path.of("mlp.safetensors"));
    }
}
