package dev.float8j.samples;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaException;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.Selection;
import dev.float8j.runtime.debug.StatisticsObserver;
import dev.float8j.runtime.nn.Init;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The main job of {@code ./float8j demo}: trains the sample character model once in high precision and
 * once per FP8 recipe from the same seed and data, then writes a report folder with loss curves, a
 * results table and the FP8 statistics of the last steps.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Trains a small character-level language model with several FP8 recipes against a high-precision "
                + "baseline and writes a report folder.")
public final class Demo implements Callable<Integer> {

    @Option(names = "--model", converter = LlamaDemo.ModelName.class, description = "char (default: the quick character "
            + "model) or llama (a small Llama-style transformer on the JDK's own sources; --model llama --help lists its options)")
    String model = "char";

    @Option(names = "--data", paramLabel = "FILE", description = "UTF-8 text to train on (default: generated English-like text)")
    Path data;

    @Option(names = "--recipes", split = ",", paramLabel = "ID", converter = RecipeConverter.class,
            completionCandidates = RecipeIds.class,
            description = "recipes to run, comma separated (default: all; hp always runs). Available: ${COMPLETION-CANDIDATES}")
    List<TrainingRecipe> recipes;

    /** The recipe ids, for --help. */
    static final class RecipeIds implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.Arrays.stream(TrainingRecipe.values()).map(TrainingRecipe::id).iterator();
        }
    }

    static final class RecipeConverter implements CommandLine.ITypeConverter<TrainingRecipe> {
        @Override
        public TrainingRecipe convert(String value) {
            return TrainingRecipe.byId(value.strip());
        }
    }

    @Option(names = "--steps", description = "training steps per run (default: ${DEFAULT-VALUE})")
    int steps = 400;

    @Option(names = "--batch", description = "contexts per step (default: ${DEFAULT-VALUE})")
    int batch = 64;

    @Option(names = "--context", description = "characters of context (default: ${DEFAULT-VALUE})")
    int context = 16;

    @Option(names = "--width", description = "model width (default: ${DEFAULT-VALUE})")
    int width = 256;

    @Option(names = "--hidden", description = "hidden size of each MLP block (default: ${DEFAULT-VALUE})")
    int hidden = 512;

    @Option(names = "--blocks", description = "residual MLP blocks (default: ${DEFAULT-VALUE})")
    int blocks = 2;

    @Option(names = "--seed", description = "seed of weights and batches (default: ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--lr", description = "peak learning rate of AdamW (default: ${DEFAULT-VALUE})")
    double learningRate = 3e-3;

    @Option(names = "--backend", description = "cpu (the Vector API backend), reference (the scalar oracle, slow), cuda (an NVIDIA GPU) or auto (cuda if "
            + "present, else cpu) (default: ${DEFAULT-VALUE})")
    String backend = "cpu";

    @Option(names = "--eval-windows", description = "validation windows of the final evaluation; the three during "
            + "training use a quarter (default: ${DEFAULT-VALUE})")
    int evalWindows = 2048;

    @Option(names = "--stats-steps", description = "record FP8 statistics over this many last steps (default: ${DEFAULT-VALUE})")
    int statsSteps = 5;

    @Option(names = "--out", description = "parent folder of the report (default: ${DEFAULT-VALUE})")
    Path out = Path.of("reports");

    @Option(names = "--quantization-table", description = "print the quantization error (SQNR) of every granularity and exit")
    boolean quantizationTable;

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        if (LlamaDemo.requested(args)) {
            System.exit(LlamaDemo.main(args));
        }
        System.exit(execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /**
     * Runs the demo with these arguments. Every error, a bad argument or a failure while running, is one line on
     * err and exit code 2; the arguments are all checked before any training (see {@link DemoArguments}).
     */
    static int execute(PrintWriter out, PrintWriter err, String... args) {
        CommandLine commandLine = new CommandLine(new Demo()).setOut(out).setErr(err);
        commandLine.setParameterExceptionHandler((e, given) -> oneLineError(err, e.getMessage()
                + " (./float8j demo --help lists the options)"));
        commandLine.setExecutionExceptionHandler((e, command, parsed) -> oneLineError(err, e.toString()));
        return commandLine.execute(args);
    }

    private static int oneLineError(PrintWriter err, String message) {
        err.println("float8j demo: " + message.strip().replaceAll("\\s*\\R\\s*", " "));
        err.flush();
        return CommandLine.ExitCode.USAGE;
    }

    @Override
    public Integer call() throws Exception {
        if (quantizationTable) {
            QuantizationErrorTable.main(new String[0]);
            return 0;
        }
        DemoArguments arguments = new DemoArguments(spec.commandLine());
        arguments.checkRanges(this);
        Backends.use(backend(backend));
        TextCorpus corpus = data == null ? TextCorpus.generated(seed, 400_000) : readData(data);
        arguments.checkText(corpus, context);
        arguments.checkSizes(modelConfig(corpus), batch, Runtime.getRuntime().maxMemory());
        arguments.checkOutput(out);
        List<TrainingRecipe> chosen = new ArrayList<>();
        if (recipes == null) {
            chosen.addAll(List.of(TrainingRecipe.values()));
        } else {
            chosen.addAll(new java.util.LinkedHashSet<>(recipes));
        }
        if (!chosen.contains(TrainingRecipe.HIGH_PRECISION)) {
            chosen.add(0, TrainingRecipe.HIGH_PRECISION);
        }
        CharModel.Config model = modelConfig(corpus);
        // a 20th of the steps warm up, at least one, and never all of them (one step runs at the peak rate)
        long warmup = Math.min(Math.max(1, steps / 20), steps - 1);
        Trainer.Settings settings = new Trainer.Settings(batch, steps, learningRate, learningRate / 10, warmup, 0.01, 1.0,
                seed);
        System.out.printf(Locale.ROOT, "float8j demo: %s, vocabulary %d, backend %s%n", corpus.description(),
                corpus.vocabularySize(), Backends.current().name());
        System.out.printf(Locale.ROOT, "model %s, %d steps of %d contexts, AdamW peak lr %.0e%n", model, steps, batch,
                learningRate);

        List<RunResult> results = new ArrayList<>();
        for (TrainingRecipe recipe : chosen) {
            results.add(run(recipe, corpus, model, settings));
        }
        Path folder = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Report report = new Report(corpus.description(), model, settings, Backends.current().name(), results);
        report.write(folder);
        System.out.println();
        System.out.print(report.resultsMarkdown());
        System.out.println("\nreport written to " + folder.toAbsolutePath());
        return 0;
    }

    /** The sample's sizes; with the defaults the FP8 layers' dims are multiples of 128, so 128-blocks tile them exactly. */
    private CharModel.Config modelConfig(TextCorpus corpus) {
        return new CharModel.Config(corpus.vocabularySize(), context, 16, width, hidden, blocks);
    }

    private RunResult run(TrainingRecipe recipe, TextCorpus corpus, CharModel.Config config, Trainer.Settings settings) {
        Init.seed(settings.seed());
        CharModel model = new CharModel(config, recipe.linears());
        Trainer trainer = new Trainer(model, corpus, settings);
        StatisticsObserver stats = new StatisticsObserver(Selection.all().steps(Math.max(0, steps - statsSteps), steps - 1));
        Float8Debug.addObserver(stats);
        ProgressBar bar = new ProgressBar(System.out, recipe.id(), steps);
        float[] losses = new float[steps];
        List<Long> evalAt = new ArrayList<>();
        List<Float> evalLoss = new ArrayList<>();
        Throughput throughput = new Throughput(steps, batch);
        long savedBytes = 0;
        int evalEvery = Math.max(1, steps / 4);
        try {
            for (int s = 0; s < steps; s++) {
                Trainer.StepResult r = trainer.trainStep();
                losses[s] = r.loss();
                throughput.add(r.nanos());
                savedBytes = r.savedBytes();
                bar.update(s + 1, r.loss(), throughput.tokensPerSecond());
                if ((s + 1) % evalEvery == 0 || s + 1 == steps) {
                    evalAt.add(s + 1L);
                    evalLoss.add(trainer.validationLoss(s + 1 == steps ? evalWindows : Math.max(1, evalWindows / 4)));
                }
            }
        } finally {
            Float8Debug.removeObserver(stats);
        }
        int tail = Math.min(20, steps);
        double tailSum = 0;
        for (int s = steps - tail; s < steps; s++) {
            tailSum += losses[s];
        }
        long[] vSteps = evalAt.stream().mapToLong(Long::longValue).toArray();
        float[] vLoss = new float[evalLoss.size()];
        for (int i = 0; i < vLoss.length; i++) {
            vLoss[i] = evalLoss.get(i);
        }
        double seconds = throughput.seconds();
        RunResult result = new RunResult(recipe, losses, vSteps, vLoss, (float) (tailSum / tail), vLoss[vLoss.length - 1],
                throughput.tokensPerSecond(), savedBytes, seconds, stats);
        bar.finish(String.format(Locale.ROOT, "val %.4f  %.0fs", result.finalValidationLoss(), seconds));
        return result;
    }

    private static TextCorpus readData(Path file) {
        CommandLine cl = new CommandLine(new Demo());
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new CommandLine.ParameterException(cl, "--data " + file + ": no readable file there");
        }
        try {
            return TextCorpus.fromFile(file);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new CommandLine.ParameterException(cl, "--data " + file + " is not UTF-8 text");
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, "--data " + file + ": " + e.getMessage());
        }
    }

    /** The backend by name (see {@link Backends#named}), or a usage error saying why it is unavailable. */
    static Backend backend(String name) {
        try {
            return Backends.named(name);
        } catch (IllegalArgumentException | CudaException | LinkageError e) {
            throw new CommandLine.ParameterException(new CommandLine(new Demo()), "--backend " + name + ": " + e.getMessage());
        }
    }
}
