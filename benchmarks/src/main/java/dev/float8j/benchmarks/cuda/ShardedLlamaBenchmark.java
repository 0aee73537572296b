package dev.float8j.benchmarks.cuda;

import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.cuda.CudaBackend;
import dev.float8j.runtime.cuda.NcclCommunicator;
import dev.float8j.runtime.nn.Float8Linear;
import dev.float8j.runtime.nn.Init;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.transformer.LlamaConfig;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.train.LearningRateSchedule;
import dev.float8j.runtime.train.LlamaTrainer;
import dev.float8j.runtime.train.ShardedLlamaTrainer;
import dev.float8j.runtime.train.ShardedLlamaTrainer.WeightGather;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDate;

/**
 * Times sharded data-parallel Llama training steps on several GPUs, one process per GPU (benchmarks/multi-gpu.sh
 * starts them): {@link ShardedLlamaTrainer} over an {@link NcclCommunicator}, parameters, gradients and AdamW state
 * sharded on the devices, communication overlapped with compute. Each rank trains on batch sequences (the global
 * batch is batch x GPUs, as benchmarks/llama_fsdp2.py does), BF16 activations, F32 master weights; every linear but
 * the head (BF16) follows the recipe, "bf16" keeps them all in BF16.
 *
 * <p>The process learns its place from the environment: FLOAT8J_RANK, FLOAT8J_WORLD_SIZE (default 0 of 1) and
 * FLOAT8J_NCCL_ID_FILE, where rank 0 writes NCCL's unique id (atomically) and the others read it once it appears.
 * Each process sees its one GPU (CUDA_VISIBLE_DEVICES). NCCL_NVLS_ENABLE must be 0 or unset (float8j sets it to 0).
 *
 * <p>{@code ShardedLlamaBenchmark RECIPE [key=value ...]}, keys: layers, dim, heads, kvHeads, ffn, vocab, batch (per
 * rank), seq, warmup, steps, gather (fp8 or f32: how FP8 layers' weights are all-gathered), oneGpuTokensPerS (of the
 * 1-GPU run, for the scaling efficiency), commit. Rank 0 prints one CSV line {@code
 * gpus,recipe,tokens_per_s,scaling_efficiency,device,commit,date} (the recipe named with its gather, e.g.
 * {@code tensorwise/fp8-gather}) and one {@code bytes,...} line: the bytes a rank hands to the weight all-gathers and
 * to the gradient reduce-scatters per step.
 */
public final class ShardedLlamaBenchmark {

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: ShardedLlamaBenchmark bf16|RECIPE [layers=4 dim=4096 heads=32 kvHeads=8"
                    + " ffn=14336 vocab=32768 batch=4 seq=4096 warmup=3 steps=10 gather=fp8|f32 oneGpuTokensPerS=0"
                    + " commit=...]; recipes: " + String.join(", ", Float8Recipes.names()));
            System.exit(2);
        }
        String recipe = args[0];
        Options o = new Options(args);
        int rank = Integer.parseInt(System.getenv().getOrDefault("FLOAT8J_RANK", "0"));
        int ranks = Integer.parseInt(System.getenv().getOrDefault("FLOAT8J_WORLD_SIZE", "1"));
        String idFile = System.getenv("FLOAT8J_NCCL_ID_FILE");
        if (ranks > 1 && idFile == null) {
            throw new IllegalArgumentException("FLOAT8J_NCCL_ID_FILE must name the file through which rank 0 hands NCCL's"
                    + " unique id to the other " + (ranks - 1) + " ranks");
        }
        LlamaConfig config = LlamaConfig.of(o.get("dim", 4096), o.get("layers", 4), o.get("heads", 32),
                o.get("kvHeads", 8), o.get("ffn", 14336), o.get("vocab", 32768), o.get("seq", 4096));
        int batchPerRank = o.get("batch", 4);
        int globalBatch = batchPerRank * ranks;
        WeightGather gather = switch (o.text("gather", "fp8")) {
            case "fp8" -> WeightGather.FP8;
            case "f32" -> WeightGather.HIGH_PRECISION;
            default -> throw new IllegalArgumentException("gather is fp8 or f32, got " + o.text("gather", ""));
        };
        Float8Plan plan = recipe.equals("bf16") ? null : Float8Recipes.named(recipe);
        LinearFactory linears = (name, in, out) -> plan == null || name.equals("head")
                ? new Linear(in, out) : new Float8Linear(in, out, plan);

        CudaBackend cuda = CudaBackend.create();
        Backends.use(cuda);
        byte[] id = uniqueId(rank, ranks, idFile);
        try (NcclCommunicator comm = NcclCommunicator.create(cuda, id, rank, ranks)) {
            Init.seed(0); // every rank builds the same initial weights and keeps its shards of them
            LlamaModel model = new LlamaModel(config, DType.BF16, linears);
            model.moveTo(cuda);
            int steps = o.get("steps", 10);
            int warmup = o.get("warmup", 3);
            ShardedLlamaTrainer trainer = new ShardedLlamaTrainer(comm, model, new LlamaTrainer.Settings(
                    new LearningRateSchedule(1e-4, 1e-4, 0, warmup + steps), 0.1, 1.0f, LlamaTrainer.OnNonFinite.FAIL),
                    gather);

            int tokens = globalBatch * config.seq();
            RandomTokens batchTokens = RandomTokens.of(tokens, config.vocabulary());
            int[] inputs = batchTokens.inputs();
            int[] targets = batchTokens.targets();
            float loss = Float.NaN;
            for (int i = 0; i < warmup; i++) {
                loss = trainer.step(inputs, targets, globalBatch, config.seq()).loss();
            }
            comm.barrier();
            long start = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                // each step reads its all-reduced loss, so every rank's device has finished the step when it returns
                loss = trainer.step(inputs, targets, globalBatch, config.seq()).loss();
            }
            double ms = (System.nanoTime() - start) / 1e6 / steps;
            if (rank != 0) {
                return;
            }
            long reduceScatterBytes = 0;
            for (Parameter shard : trainer.localShards()) {
                reduceScatterBytes += 4L * shard.value().size() * ranks; // the padded F32 gradient of each parameter
            }
            double tokensPerS = tokens * 1000.0 / ms;
            double oneGpu = o.real("oneGpuTokensPerS", ranks == 1 ? tokensPerS : Double.NaN);
            String name = recipe + "/" + (gather == WeightGather.FP8 ? "fp8" : "f32") + "-gather";
            String device = cuda.deviceName().replace(',', ' ');
            String commit = o.text("commit", "unknown");
            System.out.printf("# float8j sharded %s on %d GPUs: %d layers, dim %d, %d heads / %d kv, ffn %d, vocab %d,"
                    + " batch %d per rank x seq %d; step %.2f ms; loss after %d steps %.4f; %s%n", name, ranks,
                    config.layers(), config.dim(), config.heads(), config.kvHeads(), config.ffn(), config.vocabulary(),
                    batchPerRank, config.seq(), ms, warmup + steps, loss, comm.library());
            System.out.printf("%d,%s,%.0f,%.3f,%s,%s,%s%n", ranks, name, tokensPerS, tokensPerS / (ranks * oneGpu),
                    device, commit, LocalDate.now());
            System.out.printf("bytes,%d,%s,%d,%d,%.2f,%s,%s,%s%n", ranks, name, trainer.weightGatherBytesPerStep(),
                    reduceScatterBytes, ms, device, commit, LocalDate.now());
        }
    }

    /** Rank 0 makes the id and publishes it by renaming a complete file into place; the others wait for that file. */
    private static byte[] uniqueId(int rank, int ranks, String idFile) throws IOException, InterruptedException {
        if (rank == 0) {
            byte[] id = NcclCommunicator.newUniqueId();
            if (ranks > 1) {
                Path file = Path.of(idFile);
                Path partial = file.resolveSibling(file.getFileName() + ".partial");
                Files.write(partial, id);
                Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            return id;
        }
        Path file = Path.of(idFile);
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("rank " + rank + " waited 300 s for rank 0's NCCL id in " + file);
            }
            Thread.sleep(50);
        }
        return Files.readAllBytes(file);
    }

    /** key=value arguments after the recipe. */
    private record Options(String[] args) {
        int get(String key, int fallback) {
            String v = text(key, null);
            return v == null ? fallback : Integer.parseInt(v);
        }

        double real(String key, double fallback) {
            String v = text(key, null);
            return v == null || Double.parseDouble(v) <= 0 ? fallback : Double.parseDouble(v);
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
