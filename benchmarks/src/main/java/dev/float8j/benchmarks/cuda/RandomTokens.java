package dev.float8j.benchmarks.cuda;

import java.util.Random;

/**
 * The Llama benchmarks' batch: input and target token ids drawn uniformly over the vocabulary from seed 0, so every
 * run, sharded or not, times the same tokens.
 */
record RandomTokens(int[] inputs, int[] targets) {
    static RandomTokens of(int count, int vocabulary) {
        Random random = new Random(0);
        int[] inputs = new int[count];
        int[] targets = new int[count];
        for (int i = 0; i < count; i++) {
            inputs[i] = random.nextInt(vocabulary);
            targets[i] = random.nextInt(vocabulary);
        }
        return new RandomTokens(inputs, targets);
    }
}
