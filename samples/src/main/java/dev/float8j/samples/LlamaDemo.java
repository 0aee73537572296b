package dev.float8j.samples;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaAttention;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.nn.GradMode;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./float8j demo --model llama}: trains a small Llama-style decoder on byte-level tokens of real text (the
 * running JDK's own Java sources, read from lib/src.zip), once with every gemm in high precision and once per FP8
 * recipe, from the same seed and batches, and writes a report whose main chart is each FP8 run's loss gap to the
 * baseline. The head stays in high precision in every recipe.
 */
@Command(name = "demo --model llama", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Trains a small Llama-style model on byte-level text with each FP8 recipe against a high-precision "
                + "baseline and writes a report folder with each run's loss gap to the baseline.")
final class LlamaDemo implements Callable<Integer> {

    @Option(names = "--model", description = "llama (this demo)")
    String model = "llama";

    @Option(names = "--data", paramLabel = "FILE", description = "a file to train on, as bytes (default: the JDK's lib/src.zip)")
    Path data;

    @Option(names = "--sources", description = "with no --data: the folder of lib/src.zip to read (default: ${DEFAULT-VALUE})")
    String sources = "java.base/java/util/";

    @Option(names = "--text-bytes", description = "with no --data: bytes of source to read (default: ${DEFAULT-VALUE})")
    int textBytes = 2_000_000;

    @Option(names = "--recipes", split = ",", paramLabel = "ID", converter = Demo.RecipeConverter.class,
            completionCandidates = Demo.RecipeIds.class,
            description = "recipes to run, comma separated (default: all; hp always runs). Available: ${COMPLETION-CANDIDATES}")
    List<TrainingRecipe> recipes;

    @Option(names = "--backend", description = "cpu, reference, cuda or auto (default: ${DEFAULT-VALUE})")
    String backend = "cpu";

    @Option(names = "--activations", description = "f32 or bf16 (default: bf16 on cuda, else f32)")
    String activations;

    @Option(names = "--steps", description = "training steps per run (default: ${DEFAULT-VALUE})")
    int steps = 300;

    @Option(names = "--batch", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch = 8;

    @Option(names = "--seq", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int seq = 64;

    @Option(names = "--dim", description = "model width (default: ${DEFAULT-VALUE})")
    int dim = 64;

    @Option(names = "--layers", description = "decoder blocks (default: ${DEFAULT-VALUE})")
    int layers = 2;

    @Option(names = "--heads", description = "query heads (default: ${DEFAULT-VALUE})")
    int heads = 4;

    @Option(names = "--kv-heads", description = "key/value heads (default: ${DEFAULT-VALUE})")
    int kvHeads = 2;

    @Option(names = "--ffn", description = "SwiGLU hidden width (default: ${DEFAULT-VALUE})")
    int ffn = 192;

    @Option(names = "--lr", description = "peak learning rate of AdamW (default: ${DEFAULT-VALUE})")
    double learningRate = 3e-3;

    @Option(names = "--seed", description = "seed of weights and batches (default: ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--eval-batches", description = "validation batches at the end of each run (default: ${DEFAULT-VALUE})")
    int evalBatches = 8;

    @Option(names = "--out", description = "parent folder of the report (default: ${DEFAULT-VALUE})")
    Path out = Path.of("reports");

    /** The values of Demo's --model. */
    static final class ModelName implements CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (!value.equals("char") && !value.equals("llama")) {
                throw new CommandLine.TypeConversionException("'" + value + "': choose char or llama");
            }
            return value;
        }
    }

    /** True when the command line asks for this demo: --model llama (or --model=llama). */
    static boolean requested(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--model=llama") || (args[i].equals("--model") && i + 1 < args.length
                    && args[i + 1].equals("llama"))) {
                return true;
            }
        }
        return false;
    }

    /** Runs the demo with Demo's command line (which chose it with --model llama). */
    static int main(String[] args) {
        return new CommandLine(new LlamaDemo()).execute(args);
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cl = new CommandLine(this);
        if (!model.equals("llama")) {
            throw new CommandLine.ParameterException(cl, "--model " + model + ": this demo trains llama");
        }
        Backend chosen = Demo.backend(backend);
        Backends.use(chosen);
        DType dtype = dtype(cl, chosen);
        ByteText text = data == null ? ByteText.jdkSources(sources, textBytes) : ByteText.file(data);
        LlamaConfig config = configOrUsageError(cl);
        if (chosen instanceof CudaBackend && !CudaAttention.supportsHeadDim(config.headDim())) {
            // fail before the first step, not in it
            throw new CommandLine.ParameterException(cl, "--backend cuda: its attention takes head dims "
                    + CudaAttention.HEAD_DIMS + ", and --dim " + config.dim() + " / --heads " + config.heads() + " gives "
                    + config.headDim() + "; try --dim 512 --heads 8 --kv-heads 4 --ffn 1536");
        }
        List<TrainingRecipe> chosenRecipes = new ArrayList<>();
        chosenRecipes.add(TrainingRecipe.HIGH_PRECISION);
        chosenRecipes.addAll(recipes == null ? List.of(TrainingRecipe.values()) : new LinkedHashSet<>(recipes));
        chosenRecipes = new ArrayList<>(new LinkedHashSet<>(chosenRecipes));
        String header = String.format(Locale.ROOT, "data: %s%n%nmodel: %s, activations %s, backend %s%n%n"
                + "training: %d steps of %d x %d tokens, AdamW peak lr %.0e (warmup %d, cosine to a tenth), clip 1.0, seed %d",
                text.description(), config, dtype, chosen.name(), steps, batch, seq, learningRate, warmup(), seed);
        System.out.println("float8j demo --model llama");
        System.out.println(header.replace("\n\n", "\n"));

        List<int[][]> validation = text.validationBatches(evalBatches, batch, seq);
        List<LlamaReport.Run> runs = new ArrayList<>();
        for (TrainingRecipe recipe : chosenRecipes) {
            runs.add(run(recipe, config, dtype, chosen, text, validation));
        }
        LlamaReport report = new LlamaReport(header, runs);
        Path folder = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-llama");
        report.write(folder);
        System.out.println();
        System.out.print(report.resultsMarkdown());
        System.out.println("\nreport written to " + folder.toAbsolutePath());
        return 0;
    }

    private DType dtype(CommandLine cl, Backend chosen) {
        String name = activations != null ? activations : chosen.name().startsWith("cuda") ? "bf16" : "f32";
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            default -> throw new CommandLine.ParameterException(cl, "--activations " + name + ": choose f32 or bf16");
        };
    }

    private LlamaConfig configOrUsageError(CommandLine cl) {
        if (steps < 1 || batch < 1 || evalBatches < 1) {
            throw new CommandLine.ParameterException(cl, "--steps, --batch and --eval-batches must be positive");
        }
        try {
            return LlamaConfig.of(dim, layers, heads, kvHeads, ffn, ByteText.VOCABULARY, seq);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }

    private long warmup() {
        return Math.max(1, steps / 20);
    }

    private LlamaReport.Run run(TrainingRecipe recipe, LlamaConfig config, DType dtype, Backend chosen, ByteText text,
            List<int[][]> validation) {
        Init.seed(seed);
        LlamaModel llama = new LlamaModel(config, dtype, recipe.linears()::create);
        if (chosen.ops() != ReferenceModelOps.INSTANCE) {
            llama.moveTo(chosen); // a backend with its own ops runs the whole step where it computes
        }
        LlamaTrainer trainer = new LlamaTrainer(llama, new LlamaTrainer.Settings(
                new LearningRateSchedule(learningRate, learningRate / 10, warmup(), steps), 0.01, 1f,
                LlamaTrainer.OnNonFinite.FAIL));
        ProgressBar bar = new ProgressBar(System.out, recipe.id(), steps);
        float[] losses = new float[steps];
        long nanos = 0;
        long laterHalfNanos = 0;
        for (int s = 0; s < steps; s++) {
            int[][] b = text.trainingBatch(batch, seq, seed, s);
            LlamaTrainer.StepResult r = trainer.step(b[0], b[1], batch, seq);
            losses[s] = r.loss();
            nanos += r.nanos();
            if (s >= steps / 2) {
                laterHalfNanos += r.nanos();
            }
            bar.update(s + 1, r.loss(), (double) (s + 1) * batch * seq / (nanos / 1e9));
        }
        float validationLoss = validationLoss(llama, validation);
        double tokensPerSecond = (double) (steps - steps / 2) * batch * seq / (laterHalfNanos / 1e9);
        bar.finish(String.format(Locale.ROOT, "val %.4f  %.0fs", validationLoss, nanos / 1e9));
        return new LlamaReport.Run(recipe, losses, validationLoss, tokensPerSecond, nanos / 1e9);
    }

    /** Mean loss over the validation batches, with no saving for backward. */
    private float validationLoss(LlamaModel llama, List<int[][]> validation) {
        double total = 0;
        try (GradMode.Scope noGrad = GradMode.disabled()) {
            for (int[][] b : validation) {
                var r = llama.forwardLoss(llama.tokens(b[0], batch, seq), llama.tokens(b[1], batch, seq));
                total += Backends.current().toHost(r.loss()).getFlat(0);
            }
        }
        return (float) (total / validation.size());
    }
}
