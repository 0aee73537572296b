package dev.float8j.samples;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.QuantizationObserver;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.train.AdamW;
import dev.float8j.runtime.train.Checkpoint;
import dev.float8j.runtime.train.CheckpointException;
import dev.float8j.runtime.train.CrossEntropyLoss;
import dev.float8j.runtime.train.GradientClipping;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.Optimizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training loop of the sample: AdamW, warmup and cosine decay, global-norm clipping, batches drawn
 * from the seed and the step. Everything runs in order on one thread (backends aside), so the same seed
 * gives the same losses bit for bit, and a run resumed from a checkpoint continues exactly.
 */
public final class Trainer {

    /** Training settings. */
    public record Settings(int batchSize, long steps, double peakLearningRate, double minLearningRate, long warmupSteps,
            double weightDecay, double clipNorm, long seed) {
    }

    /** What one step did. */
    public record StepResult(long step, float loss, double learningRate, double gradientNorm, long savedBytes, long nanos) {
    }

    private final CharModel model;
    private final TextCorpus corpus;
    private final Settings settings;
    private final Optimizer optimizer;
    private final LearningRateSchedule schedule;
    private final CrossEntropyLoss loss = new CrossEntropyLoss();
    private long step;

    public Trainer(CharModel model, TextCorpus corpus, Settings settings) {
        if (model.config().vocabulary() < corpus.vocabularySize()) {
            throw new IllegalArgumentException("the model knows " + model.config().vocabulary() + " tokens, the text has "
                    + corpus.vocabularySize());
        }
        this.model = model;
        this.corpus = corpus;
        this.settings = settings;
        this.optimizer = new AdamW(model.parameters(), settings.peakLearningRate(), settings.weightDecay());
        this.schedule = new LearningRateSchedule(settings.peakLearningRate(), settings.minLearningRate(),
                settings.warmupSteps(), settings.steps());
    }

    public CharModel model() {
        return model;
    }

    /** Steps completed so far. */
    public long step() {
        return step;
    }

    /** One step of training on the step's batch; on a GPU its tensors are freed when it ends. */
    public StepResult trainStep() {
        try (MemoryScope scope = Backends.current().openScope()) {
            return trainStepInScope();
        }
    }

    private StepResult trainStepInScope() {
        long start = System.nanoTime();
        Float8Debug.setStep(step);
        double lr = schedule.rate(step);
        optimizer.setLearningRate(lr);
        Batch batch = Batch.training(corpus, model.config().context(), settings.batchSize(), settings.seed(), step);
        model.zeroGrad();
        Tensor logits = model.forward(batch.contexts());
        long savedBytes = model.savedBytes();
        float value = loss.forward(logits, batch.targets());
        model.backward(loss.backward());
        double norm = GradientClipping.clipGlobalNorm(model.parameters(), settings.clipNorm());
        optimizer.step();
        StepResult result = new StepResult(step, value, lr, norm, savedBytes, System.nanoTime() - start);
        step++;
        return result;
    }

    /**
     * The mean loss over windows of the validation text, computed inside {@link GradMode#disabled()}: layers
     * save nothing, so memory stays flat over any number of evaluations and no gradient is touched;
     * observers are paused, so evaluation never shows up in FP8 statistics.
     */
    public float validationLoss(int windows) {
        int context = model.config().context();
        int[] starts = Batch.validationStarts(corpus, context, windows);
        QuantizationObserver observer = Float8Debug.observer();
        Float8Debug.observe(null);
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            double total = 0;
            int chunk = Math.max(256, settings.batchSize());
            for (int from = 0; from < starts.length; from += chunk) {
                int[] part = java.util.Arrays.copyOfRange(starts, from, Math.min(starts.length, from + chunk));
                Batch batch = Batch.at(corpus, context, part);
                Tensor logits = model.forward(batch.contexts());
                total += (double) loss.forward(logits, batch.targets()) * part.length;
            }
            return (float) (total / starts.length);
        } finally {
            Float8Debug.observe(observer);
        }
    }

    /** Saves weights, optimizer state, FP8 plans, the step and what fixes the data stream. */
    public void save(Path file) throws IOException {
        Checkpoint.save(file, model, optimizer, step, identity());
    }

    /** Loads a checkpoint saved by a trainer of the same settings, model and text; the next step continues from it. */
    public void resume(Path file) throws IOException {
        Checkpoint c = Checkpoint.read(file);
        if (!c.metadata().equals(identity())) {
            throw new CheckpointException(file + " belongs to another run: saved with " + c.metadata() + ", this run is "
                    + identity());
        }
        Checkpoint.load(file, model, optimizer);
        step = c.step();
    }

    private Map<String, String> identity() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("settings", settings.toString());
        m.put("model", model.config().toString());
        m.put("text", corpus.description());
        return m;
    }
}
