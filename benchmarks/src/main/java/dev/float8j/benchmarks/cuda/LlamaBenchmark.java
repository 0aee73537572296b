package dev.float8j.benchmarks.cuda;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.KernelTimes;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import java.lang.management.GarbageCollectorMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;

/**
 * Times whole Llama training steps on the GPU: forward, fused cross-entropy, backward, global-norm clipping and
 * AdamW, all on the device, with BF16 activations and F32 master weights and moments. Every linear layer but the
 * head (kept in BF16) follows the recipe; "bf16" keeps every layer in BF16. Random token ids.
 *
 * <p>One recipe per run (a fresh process frees the device between recipes): {@code LlamaBenchmark RECIPE
 * [key=value ...]} with keys layers, dim, heads, kvHeads, ffn, vocab, batch, seq, warmup, steps, commit, grads=bf16|f32
 * (the dtype the gradients are kept in on the device; BF16 by default, as PyTorch's autocast computes them), profile=N
 * (then one more step, or profilesteps=K steps, prints its N longest kernels by name) and timeline=FILE (with profile,
 * those steps' every launch in order, as {@link KernelTimes#timelineCsv()} writes it). Prints
 * one CSV line {@code system,recipe,tokens_per_s,step_ms,peak_gib,device,commit,date} (benchmarks/llama-gpu.sh
 * runs it beside benchmarks/llama_pytorch.py). Peak memory is the device allocator's peak of live bytes.
 */
public final class LlamaBenchmark {

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: LlamaBenchmark bf16|RECIPE [layers=4 dim=4096 heads=32 kvHeads=8 ffn=14336"
                    + " vocab=32768 batch=4 seq=4096 warmup=3 steps=10 commit=...]; recipes: "
                    + String.join(", ", Float8Recipes.names()));
            System.exit(2);
        }
        String recipe = args[0];
        Options o = new Options(args);
        LlamaConfig config = LlamaConfig.of(o.get("dim", 4096), o.get("layers", 4), o.get("heads", 32),
                o.get("kvHeads", 8), o.get("ffn", 14336), o.get("vocab", 32768), o.get("seq", 4096));
        int batch = o.get("batch", 4);
        Float8Plan plan = recipe.equals("bf16") ? null : Float8Recipes.named(recipe);
        LinearFactory linears = (name, in, out) -> plan == null || name.equals("head")
                ? new Linear(in, out) : new Float8Linear(in, out, plan);

        CudaBackend cuda = CudaBackend.create();
        Backends.use(cuda);
        LlamaModel model = new LlamaModel(config, DType.BF16, linears);
        // BF16 gradients by default: the precision PyTorch's autocast computes them in (Parameter.moveTo)
        DType gradDType = switch (o.text("grads", "bf16")) {
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new IllegalArgumentException("grads is bf16 or f32, got " + o.text("grads", ""));
        };
        model.moveTo(cuda, gradDType);
        int steps = o.get("steps", 10);
        int warmup = o.get("warmup", 3);
        // llama_pytorch.py's optimizer: AdamW at a constant 1e-4, weight decay 0.1, clipping at norm 1; with the same
        // initial distributions (uniform +-1/sqrt(fan_in) linears, N(0, 1) embedding) the two losses after the run's
        // steps on one repeated batch are then comparable (the draws differ)
        LlamaTrainer trainer = new LlamaTrainer(model, new LlamaTrainer.Settings(
                new LearningRateSchedule(1e-4, 1e-4, 0, warmup + steps), 0.1, 1.0f, LlamaTrainer.OnNonFinite.FAIL));

        int tokens = batch * config.seq();
        RandomTokens batchTokens = RandomTokens.of(tokens, config.vocabulary());
        int[] inputs = batchTokens.inputs();
        int[] targets = batchTokens.targets();
        float loss = Float.NaN;
        for (int i = 0; i < warmup; i++) {
            loss = trainer.step(inputs, targets, batch, config.seq()).loss();
        }
        cuda.allocator().resetPeak();
        long allocationsBefore = cuda.allocator().driverAllocations();
        long[] gcBefore = collections();
        long start = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            // each step reads its loss, so the device has finished the step when it returns
            loss = trainer.step(inputs, targets, batch, config.seq()).loss();
        }
        double ms = (System.nanoTime() - start) / 1e6 / steps;
        long[] gcAfter = collections();
        // where a step's wall time can go besides the kernels: the driver's allocator, the JVM's collector
        System.out.printf("# timed steps: %d driver allocations, %d garbage collections taking %d ms in all%n",
                cuda.allocator().driverAllocations() - allocationsBefore, gcAfter[0] - gcBefore[0],
                gcAfter[1] - gcBefore[1]);
        double peakGib = cuda.allocator().peakBytesInUse() / (double) (1L << 30);
        System.out.printf("# float8j %s: %d layers, dim %d, %d heads / %d kv, ffn %d, vocab %d, batch %d x seq %d;"
                + " gradients in %s; loss after %d steps %.4f; driver allocations %d%n", recipe, config.layers(),
                config.dim(), config.heads(), config.kvHeads(), config.ffn(), config.vocabulary(), batch, config.seq(),
                gradDType, warmup + steps, loss, cuda.allocator().driverAllocations());
        System.out.printf("float8j,%s,%.0f,%.2f,%.2f,%s,%s,%s%n", recipe, tokens * 1000.0 / ms, ms, peakGib,
                cuda.deviceName().replace(',', ' '), o.text("commit", "unknown"), LocalDate.now());
        if (o.get("profile", 0) > 0) {
            // one more step with every kernel timed by events: where the step's time goes
            int profiled = o.get("profilesteps", 1);
            long hostStart = System.nanoTime();
            cuda.startKernelTimes();
            for (int i = 0; i < profiled; i++) {
                trainer.step(inputs, targets, batch, config.seq());
            }
            KernelTimes times = cuda.stopKernelTimes();
            System.out.printf("# kernel times of %d step(s) (host %.1f ms with the events' overhead):%n%s", profiled,
                    (System.nanoTime() - hostStart) / 1e6, times.table(o.get("profile", 0)));
            String timeline = o.text("timeline", null);
            if (timeline != null) {
                Files.writeString(Path.of(timeline), times.timelineCsv());
            }
        }
    }

    /** The JVM's garbage collections so far: their count and their accumulated time in ms. */
    private static long[] collections() {
        long count = 0;
        long millis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            count += Math.max(0, gc.getCollectionCount());
            millis += Math.max(0, gc.getCollectionTime());
        }
        return new long[] {count, millis};
    }

    /** key=value arguments after the recipe. */
    private record Options(String[] args) {
        int get(String key, int fallback) {
            String v = text(key, null);
            return v == null ? fallback : Integer.parseInt(v);
        }

        String text(String key, String fallback) {
            for (int i = 1; i < args.length; i++) {
                if (args[i].startsWith(key + "=")) {
                    return args[i].substring(key.length() + 1);
                }
            }
            return fallback;
        }
    }
}
