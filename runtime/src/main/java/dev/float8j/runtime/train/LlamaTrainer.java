package dev.float8j.runtime.train;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.WeightCastReuse;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.TokenIds;
import dev.float8j.runtime.quant.NonFiniteException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The training step of a {@link LlamaModel}: forward with the fused loss, backward, the global gradient norm and
 * AdamW, all through the ops where the model lives. AdamW is queued right after the backward, guarded by the loss
 * and the squared gradient norm where they live: if either is NaN or Inf, the update writes nothing, so a NaN or
 * Inf never reaches the weights, and the device need not wait for the host between the backward and the update.
 * The host then reads those two scalars: such a step fails with a {@link NonFiniteTrainingException} that names the
 * step and the parameter or module, or, with {@link OnNonFinite#SKIP_STEP}, is skipped (gradients and saved inputs
 * dropped, weights and optimizer untouched) and logged.
 *
 * <p>Each step runs in a {@link MemoryScope} of the current backend: the device memory it made (the batch's ids,
 * activations, FP8 copies, intermediate gradients) is freed when the step ends, so a GPU step reuses the same cached
 * blocks every time and asks the driver for nothing once warm. Parameters, their gradients and AdamW's moments
 * outlive it: they are made by {@code model.moveTo} and this constructor, before any step.
 */
public final class LlamaTrainer {
    private static final Logger LOG = Logger.getLogger("dev.float8j");

    /** What a step does on a NaN or Inf loss or gradient. */
    public enum OnNonFinite {
        FAIL,
        SKIP_STEP
    }

    /** The optimizer's settings: the learning rate of each step, AdamW's weight decay, the clipping norm. */
    public record Settings(LearningRateSchedule schedule, double weightDecay, float clipNorm, OnNonFinite onNonFinite) {
        public Settings {
            if (!(clipNorm > 0) || !(weightDecay >= 0)) {
                throw new IllegalArgumentException("need clipNorm > 0 and weightDecay >= 0, got " + clipNorm + " and "
                        + weightDecay);
            }
        }
    }

    /** What one step did; gradientNorm is before clipping. */
    public record StepResult(long step, float loss, double gradientNorm, double learningRate, boolean skipped, long nanos) {
    }

    private final LlamaModel model;
    private final Settings settings;
    private final List<Parameter> params;
    private final AdamW optimizer;
    private long step;

    /** Makes AdamW's moments where the model's parameters live: move the model first. */
    public LlamaTrainer(LlamaModel model, Settings settings) {
        this.model = model;
        this.settings = settings;
        this.params = model.parameters();
        this.optimizer = new AdamW(params, settings.schedule().peak(), settings.weightDecay());
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** Steps taken so far, skipped ones included. */
    public long steps() {
        return step;
    }

    /** Saves the model, AdamW's state and the step count (see {@link Checkpoint}); metadata identifies the run. */
    public void save(Path file, Map<String, String> metadata) throws IOException {
        Checkpoint.save(file, model, optimizer, step, metadata);
    }

    /** Loads a checkpoint of the same model and optimizer settings; the next step continues from it. */
    public Checkpoint resume(Path file) throws IOException {
        Checkpoint c = Checkpoint.load(file, model, optimizer);
        step = c.step();
        return c;
    }

    /** One step on a batch given as host ids (batch-major); targets are the next tokens. */
    public StepResult step(int[] inputs, int[] targets, int batch, int seq) {
        // the batch's device ids are freed with the rest of the step's memory
        try (MemoryScope scope = Backends.current().openScope()) {
            return step(model.tokens(inputs, batch, seq), model.tokens(targets, batch, seq));
        }
    }

    public StepResult step(TokenIds inputs, TokenIds targets) {
        try (MemoryScope scope = Backends.current().openScope()) {
            return stepInScope(inputs, targets);
        }
    }

    private StepResult stepInScope(TokenIds inputs, TokenIds targets) {
        long start = System.nanoTime();
        Float8Debug.setStep(step);
        double lr = settings.schedule().rate(step);
        optimizer.setLearningRate(lr);
        model.zeroGrad();
        LossResult result;
        // the weights' FP8 casts of the forward serve backward too (one cast per weight and spec per step)
        try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
            result = model.forwardLoss(inputs, targets);
            model.backward(result);
        } catch (NonFiniteException e) {
            // an FP8 layer refused to quantize NaN or Inf mid-pass; its message names the tensor
            model.discardSaved();
            return failOrSkip("an FP8 layer met NaN or Inf: " + e.getMessage(), Float.NaN, Double.NaN, lr, start);
        }
        // read now, not kept: a gradient zeroed on a device is written by the first product it receives (Parameter)
        List<Tensor> grads = new ArrayList<>(params.size());
        for (Parameter p : params) {
            grads.add(p.grad());
        }
        ModelOps ops = Ops.where(grads.get(0));
        Tensor sumOfSquares = ops.sumOfSquares(grads);
        // queued before the host reads the scalars, so the device runs on from the backward into the update; the
        // update checks the same two scalars where they live and writes nothing if either is NaN or Inf
        optimizer.step(sumOfSquares, settings.clipNorm(), result.loss());
        float loss;
        double squares;
        try {
            loss = readScalar(result.loss());
            squares = readScalar(sumOfSquares);
        } catch (NonFiniteException e) {
            // a GPU cast of this step met NaN or Inf and says so at this first wait (CPU casts throw mid-pass, above);
            // the update's guard saw it too and wrote nothing
            optimizer.uncountSkippedStep();
            return failOrSkip("an FP8 layer met NaN or Inf: " + e.getMessage(), Float.NaN, Double.NaN, lr, start);
        }
        if (Float.isFinite(loss) && Double.isFinite(squares)) {
            return new StepResult(step++, loss, Math.sqrt(squares), lr, false, System.nanoTime() - start);
        }
        // the update was skipped where it ran; its count goes too, so AdamW's bias correction is as before the step
        optimizer.uncountSkippedStep();
        String problem = !Float.isFinite(loss) ? "the loss is " + loss + "; " + whereTheForwardTurnsNonFinite(inputs)
                : "the gradient of " + String.join(", ", nonFinite(ops, true)) + " holds NaN or Inf (the loss, " + loss
                        + ", is finite)";
        return failOrSkip(problem, loss, squares, lr, start);
    }

    /** A step that met NaN or Inf, the weights and optimizer untouched: fails or is skipped, as the settings say. */
    private StepResult failOrSkip(String problem, float loss, double squares, double lr, long start) {
        if (settings.onNonFinite() == OnNonFinite.FAIL) {
            throw new NonFiniteTrainingException(step, problem);
        }
        return skip(problem, loss, squares, lr, start);
    }

    private StepResult skip(String problem, float loss, double squares, double lr, long start) {
        LOG.warning("float8j: skipping step " + step + " (weights and optimizer unchanged): " + problem);
        model.zeroGrad();
        return new StepResult(step++, loss, Math.sqrt(squares), lr, true, System.nanoTime() - start);
    }

    private float readScalar(Tensor t) {
        return params.get(0).toHost(t).getFlat(0);
    }

    /** Names of the parameters whose gradients (or values) hold NaN or Inf. */
    private List<String> nonFinite(ModelOps ops, boolean gradients) {
        List<String> names = new ArrayList<>();
        for (Parameter p : params) {
            if (!Float.isFinite(readScalar(ops.sumOfSquares(List.of(gradients ? p.grad() : p.value()))))) {
                names.add(p.name());
            }
        }
        return names;
    }

    /**
     * Where a non-finite loss comes from: parameters holding NaN or Inf, else the first module whose output does,
     * found by running the forward pass again and checking each module's output (only on this error path).
     */
    private String whereTheForwardTurnsNonFinite(TokenIds inputs) {
        ModelOps ops = Ops.where(params.get(0).value());
        List<String> badParameters = nonFinite(ops, false);
        if (!badParameters.isEmpty()) {
            return "parameter " + String.join(", ", badParameters) + " holds NaN or Inf";
        }
        String[] first = new String[1];
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            model.forward(inputs, (name, y) -> {
                if (first[0] == null && !Float.isFinite(readScalar(ops.sumOfSquares(List.of(y))))) {
                    first[0] = name;
                }
            });
        } catch (NonFiniteException e) {
            return "every parameter is finite; the forward pass met " + e.getMessage();
        }
        return first[0] == null ? "every parameter and module output is finite: the loss itself overflowed"
                : "every parameter is finite; the first module whose output holds NaN or Inf is " + first[0];
    }
}
