package dev.float8j.samples;

import java.util.SplittableRandom;

/** Contexts (batch·context token ids, row after row) and the next token of each. */
public record Batch(int[] contexts, int[] targets) {

    /**
     * The training batch of a step: positions drawn from a random stream that depends on the seed and
     * the step alone, so a run resumed at any step draws the same batches as an uninterrupted one.
     */
    public static Batch training(TextCorpus corpus, int context, int batchSize, long seed, long step) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step);
        int positions = corpus.trainEnd() - context;
        if (positions <= 0) {
            throw new IllegalArgumentException("the training text is shorter than one context of " + context);
        }
        int[] starts = new int[batchSize];
        for (int b = 0; b < batchSize; b++) {
            starts[b] = random.nextInt(positions);
        }
        return at(corpus, context, starts);
    }

    /** The validation windows: count positions spread evenly over the validation part. */
    public static int[] validationStarts(TextCorpus corpus, int context, int count) {
        int first = corpus.trainEnd();
        int span = corpus.length() - context - first;
        if (span <= 0) {
            throw new IllegalArgumentException("the validation text is shorter than one context of " + context);
        }
        int n = Math.min(count, span);
        int[] starts = new int[n];
        for (int i = 0; i < n; i++) {
            starts[i] = first + (int) ((long) i * span / n);
        }
        return starts;
    }

    /** The windows starting at the given positions. */
    public static Batch at(TextCorpus corpus, int context, int[] starts) {
        int[] contexts = new int[starts.length * context];
        int[] targets = new int[starts.length];
        for (int b = 0; b < starts.length; b++) {
            for (int t = 0; t < context; t++) {
                contexts[b * context + t] = corpus.token(starts[b] + t);
            }
            targets[b] = corpus.token(starts[b] + context);
        }
        return new Batch(contexts, targets);
    }
}
