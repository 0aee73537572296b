package dev.float8j.benchmarks;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cpu.CpuBackend;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import dev.float8j.runtime.train.Weights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Collectors;

/**
 * The first half of a training-parity check against PyTorch ({@code benchmarks/llama_parity.py} is the second): a
 * small Llama in F32 on the CPU backend, every linear in high precision, trained on one repeated batch of random
 * tokens with the Llama benchmark's optimizer (AdamW at a constant learning rate, betas 0.9 and 0.999, weight decay
 * 0.1, clipping at norm 1). It writes, into the folder given:
 * <ul>
 *   <li>{@code init.safetensors}: the initial weights, which the PyTorch model loads;</li>
 *   <li>{@code tokens.txt}: the config on its first line, the input ids on the second, the target ids on the third;</li>
 *   <li>{@code float8j.csv}: {@code step,loss,grad_norm} for each step.</li>
 * </ul>
 * Both sides then start from the same weights and data, so their losses may differ only by F32 rounding, which
 * grows slowly over the steps; a difference in the model's math or the optimizer shows from the first steps.
 * Usage: {@code LlamaParity FOLDER [steps]}.
 */
public final class LlamaParity {
    private static final int BATCH = 2;
    private static final double LEARNING_RATE = 1e-3;

    private LlamaParity() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: LlamaParity FOLDER [steps]");
        }
        Path folder = Files.createDirectories(Path.of(args[0]));
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        // head dim 32, grouped-query heads, a vocabulary large enough that the head matters
        LlamaConfig config = LlamaConfig.of(128, 2, 4, 2, 352, 512, 64);
        CpuBackend cpu = new CpuBackend();
        Backends.use(cpu);
        Init.seed(0);
        LlamaModel model = new LlamaModel(config, DType.F32, LinearFactory.highPrecision());
        model.moveTo(cpu);  // the step through the CPU backend's own model ops, as the demo runs it
        Weights.save(model, folder.resolve("init.safetensors"));

        Random random = new Random(1);
        int tokens = BATCH * config.seq();
        int[] inputs = random.ints(tokens, 0, config.vocabulary()).toArray();
        int[] targets = random.ints(tokens, 0, config.vocabulary()).toArray();
        Files.writeString(folder.resolve("tokens.txt"), String.format(Locale.ROOT,
                "dim=%d layers=%d heads=%d kv_heads=%d ffn=%d vocab=%d seq=%d batch=%d theta=%s eps=%s lr=%s%n%s%n%s%n",
                config.dim(), config.layers(), config.heads(), config.kvHeads(), config.ffn(), config.vocabulary(),
                config.seq(), BATCH, config.ropeTheta(), config.normEps(), LEARNING_RATE, join(inputs), join(targets)));

        LlamaTrainer trainer = new LlamaTrainer(model, new LlamaTrainer.Settings(
                new LearningRateSchedule(LEARNING_RATE, LEARNING_RATE, 0, steps), 0.1, 1.0f,
                LlamaTrainer.OnNonFinite.FAIL));
        StringBuilder csv = new StringBuilder("step,loss,grad_norm\n");
        for (int s = 1; s <= steps; s++) {
            LlamaTrainer.StepResult r = trainer.step(inputs, targets, BATCH, config.seq());
            csv.append(String.format(Locale.ROOT, "%d,%.7f,%.7f%n", s, r.loss(), r.gradientNorm()));
        }
        Files.writeString(folder.resolve("float8j.csv"), csv);
        System.out.print(csv);
    }

    private static String join(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" "));
    }
}
