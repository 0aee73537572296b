package dev.float8j.runtime.train;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.MemoryScope;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.runtime.dist.Fp8AllGather;
import dev.float8j.runtime.dist.Pending;
import dev.float8j.runtime.dist.Communicator;
import dev.float8j.runtime.dist.ReduceOp;
import dev.float8j.runtime.dist.ShardLayout;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.Parameter;
import dev.float8j.runtime.nn.WeightCastReuse;
import dev.float8j.runtime.nn.transformer.LlamaModel;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.TokenIds;
import dev.float8j.runtime.quant.NonFiniteException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sharded data parallel training of a {@link LlamaModel}, one instance per rank: each rank owns a dim-0 shard of every
 * parameter, of its gradient and of AdamW's two moments ({@link ParameterShards}), and a full-size copy of the model
 * that serves as the buffer the weights are gathered into before use. A step:
 *
 * <ol>
 *   <li>all-gathers every parameter from its shards into the model: in FP8 ({@link Fp8AllGather}) for the weight
 *       of every FP8 layer whose output-gemm weight spec the FP8 gather supports, handed to the layer as its
 *       pre-quantized weight, and also in F32 where that layer's grad_input still needs the high-precision weight
 *       (rowwise, MX); in F32 (the parameters' dtype) for the rest, or for everything with
 *       {@link WeightGather#HIGH_PRECISION};</li>
 *   <li>runs forward and backward on this rank's part of the global batch (batch / ranks sequences);</li>
 *   <li>reduce-scatters every gradient with {@link ReduceOp#MEAN}, so each rank holds its shard of the gradient of
 *       the global batch's mean loss;</li>
 *   <li>all-reduces the shards' sum of squares into the global gradient norm for clipping, and the loss;</li>
 *   <li>steps AdamW on the local shards only.</li>
 * </ol>
 *
 * With the same global batch and initial weights, every rank count computes the same step as one rank, up to the
 * order of the reductions (the gradient of a sum over rank-sized parts, the mean over ranks). Every rank's model must
 * start from the same weights (build it with the same seed): each rank takes its shard from its own copy.
 *
 * <p>The model may live on the host or on a device ({@code model.moveTo(backend)}, then make that backend current
 * before building the trainer): the shards, their gradients and AdamW's moments are made where the parameters live,
 * and every copy between shards and the full tensors is made there ({@link ShardLayout}'s backend forms); the host
 * reads the same two scalars per step as {@link LlamaTrainer} (loss and squared gradient norm), after queuing the
 * update they guard. On CUDA the communicator is an {@code NcclCommunicator}, one process per GPU.
 *
 * <p>Communication overlaps compute ({@link #setOverlap}): the next module's weights are gathered while one
 * computes, and a module's gradients are reduce-scattered as soon as its backward is done, through the communicator's
 * async collectives ({@link dev.float8j.runtime.dist.AsyncCollectives} in process; on NCCL a communication stream
 * ordered with the compute stream by events).
 */
public final class ShardedLlamaTrainer {
    /** How the weights of FP8 layers are gathered before use. */
    public enum WeightGather {
        /** In F32, the parameters' dtype; each layer quantizes its weight itself. */
        HIGH_PRECISION,
        /**
         * In FP8 with their scales where the layer's plan allows it (its output gemm in FP8, with a spec
         * {@link Fp8AllGather} supports, and scales that transpose, so the same copy serves grad_input: tensorwise and
         * 128x128 blocks), bit-identical to the layer quantizing the gathered F32 weight itself. The model's F32 copies
         * of those weights are then not refreshed: the weights of record are the shards, which checkpoints save; a
         * model used outside this trainer must be loaded from them.
         */
        FP8
    }

    private final Communicator comm;
    /** Where the model computes: the shards and every copy between them and the model's tensors are made there. */
    private final Backend backend;
    private final LlamaModel model;
    private final LlamaTrainer.Settings settings;
    private final ParameterShards shards;
    private final AdamW optimizer;
    /** For parameter i, the FP8 layer whose weight it is and that takes it gathered in FP8, or null. */
    private final Linear[] fp8Layers;
    /** The model's modules in forward order (embed, blocks.N, norm, head) and the indices of each one's parameters. */
    private final List<String> units;
    private final List<List<Integer>> unitParameters;
    private boolean overlap = true;
    private long step;
    private long weightGatherBytes;

    /** With {@link WeightGather#HIGH_PRECISION}. */
    public ShardedLlamaTrainer(Communicator comm, LlamaModel model, LlamaTrainer.Settings settings) {
        this(comm, model, settings, WeightGather.HIGH_PRECISION);
    }

    public ShardedLlamaTrainer(Communicator comm, LlamaModel model, LlamaTrainer.Settings settings,
            WeightGather weightGather) {
        this.comm = comm;
        this.backend = Backends.current();
        this.model = model;
        this.settings = settings;
        List<Parameter> parameters = model.parameters();
        for (Parameter p : parameters) {
            // the reduce-scatter and the shards' accumulation are written for F32 gradients
            if (p.gradDType() != DType.F32) {
                throw new IllegalArgumentException("sharded training reduces F32 gradients, but " + p.name()
                        + " keeps a " + p.gradDType() + " one: move the model with model.moveTo(backend)");
            }
        }
        this.fp8Layers = new Linear[parameters.size()];
        if (weightGather == WeightGather.FP8) {
            for (Module m : model.modules()) {
                if (m instanceof Linear l && gathersInFp8(l, comm.size())) {
                    fp8Layers[parameters.indexOf(l.weight())] = l;
                }
            }
        }
        // an FP8-gathered weight's shards hold whole scale blocks along dim 0 (128 rows for blockwise)
        this.shards = new ParameterShards(parameters, comm.rank(), comm.size(), backend, p -> {
            Linear l = fp8Layers[parameters.indexOf(p)];
            return l == null ? 1 : Fp8AllGather.rowAlignment(l.plan().output().second());
        });
        this.optimizer = new AdamW(shards.shards(), settings.schedule().peak(), settings.weightDecay());
        this.units = unitsOf(model);
        this.unitParameters = parametersByUnit(units, parameters);
    }

    /** This rank's shards of the parameters (their values, gradients and, through the optimizer, moments). */
    public List<Parameter> localShards() {
        return shards.shards();
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /**
     * One step on the global batch, given in full on every rank as host ids (batch-major, batch · seq each); this
     * rank trains on sequences [rank · batch / ranks, (rank + 1) · batch / ranks). Returns the global batch's mean
     * loss, the same on every rank.
     */
    public LlamaTrainer.StepResult step(int[] inputs, int[] targets, int batch, int seq) {
        if (batch % comm.size() != 0 || inputs.length != batch * seq || targets.length != inputs.length) {
            throw new IllegalArgumentException("a global batch of " + batch + " sequences of " + seq + " tokens ("
                    + inputs.length + " inputs, " + targets.length + " targets) must split evenly over " + comm.size()
                    + " ranks");
        }
        // the step's device memory (ids, gathered weights, activations, gradients before their reduce-scatter) is
        // freed when it ends; shards, their gradients and moments were made before
        try (MemoryScope scope = backend.openScope()) {
            return stepInScope(inputs, targets, batch, seq);
        }
    }

    private LlamaTrainer.StepResult stepInScope(int[] inputs, int[] targets, int batch, int seq) {
        long start = System.nanoTime();
        Float8Debug.setStep(step);
        double lr = settings.schedule().rate(step);
        optimizer.setLearningRate(lr);
        int local = batch / comm.size();
        int from = comm.rank() * local * seq;
        TokenIds in = model.tokens(Arrays.copyOfRange(inputs, from, from + local * seq), local, seq);
        TokenIds out = model.tokens(Arrays.copyOfRange(targets, from, from + local * seq), local, seq);

        model.zeroGrad();
        weightGatherBytes = 0;
        LossResult result;
        try (WeightCastReuse.Window casts = WeightCastReuse.open()) {
            result = forwardAndBackward(in, out);
        }

        List<Tensor> grads = new ArrayList<>();
        for (Parameter p : shards.shards()) {
            grads.add(p.grad());
        }
        Tensor sumOfSquares = comm.allReduce(Ops.where(grads.get(0)).sumOfSquares(grads), ReduceOp.SUM);
        Tensor lossSum = comm.allReduce(result.loss(), ReduceOp.SUM);
        // queued before the host reads the scalars, guarded by them where they live, as LlamaTrainer does
        optimizer.step(sumOfSquares, settings.clipNorm(), lossSum);
        Parameter first = shards.shard(0);
        float loss;
        double squares;
        try {
            loss = first.toHost(lossSum).getFlat(0) / comm.size();
            squares = first.toHost(sumOfSquares).getFlat(0);
        } catch (NonFiniteException e) {
            // a GPU cast of this rank met NaN or Inf and says so at this first wait; this rank's update was skipped by
            // its guard, but the fault word is this rank's own, so other ranks may have applied theirs: the step fails
            // here (whatever OnNonFinite says) rather than being skipped on one rank alone
            optimizer.uncountSkippedStep();
            throw e;
        }
        // every rank sees the same all-reduced loss and norm, so for these every rank's guard and branch agree
        if (!Float.isFinite(loss) || !Double.isFinite(squares)) {
            // the update was skipped where it ran; its count goes too, so AdamW's state is as before the step
            optimizer.uncountSkippedStep();
            String problem = "the loss is " + loss + " and the squared gradient norm " + squares;
            if (settings.onNonFinite() == LlamaTrainer.OnNonFinite.FAIL) {
                throw new NonFiniteTrainingException(step, problem);
            }
            shards.zeroGrad();
            return new LlamaTrainer.StepResult(step++, loss, Math.sqrt(squares), lr, true, System.nanoTime() - start);
        }
        return new LlamaTrainer.StepResult(step++, loss, Math.sqrt(squares), lr, false, System.nanoTime() - start);
    }

    /**
     * Bytes this rank handed to the weight all-gathers of the last step (codes, scales and tensorwise's amax for FP8
     * gathers, 4 per element for F32 ones); every rank receives ranks times that.
     */
    public long weightGatherBytesPerStep() {
        return weightGatherBytes;
    }

    /** Whether the layer's weight is gathered in FP8: its output gemm is FP8 with a spec the FP8 gather supports. */
    private static boolean gathersInFp8(Linear l, int ranks) {
        var output = l.plan().output();
        // only where the FP8 weight also serves grad_input (transposeable scales: tensorwise, 128x128 blocks);
        // rowwise and MX would need the F32 weight gathered as well, moving more bytes than F32 alone
        if (!output.fp8() || !l.suppliedWeightServesGradInput() || l.weight().value().rows() < ranks) {
            return false;
        }
        try {
            Fp8AllGather.rowAlignment(output.second());
            return true;
        } catch (IllegalArgumentException unsupported) {
            return false;
        }
    }

    /** Steps taken so far, skipped ones included. */
    public long steps() {
        return step;
    }

    /** The file of rank's shards in a sharded checkpoint folder of a run on ranks ranks. */
    public static Path shardFile(Path dir, int rank, int ranks) {
        return dir.resolve("rank-" + rank + "-of-" + ranks + ".ckpt");
    }

    /**
     * Saves this rank's shards of the parameters and AdamW's moments, the step count, and the model's FP8 plans
     * into {@link #shardFile} of dir (each rank its own file, each written atomically as {@link Checkpoint} does;
     * call it on every rank after the same step).
     */
    public void save(Path dir, Map<String, String> metadata) throws IOException {
        Map<String, String> all = new LinkedHashMap<>(metadata);
        for (Map.Entry<String, String> plan : Checkpoint.plansOf(model).entrySet()) {
            all.put("plan " + plan.getKey(), plan.getValue());
        }
        Checkpoint.save(shardFile(dir, comm.rank(), comm.size()), shards, optimizer, step, all);
    }

    /**
     * Loads this rank's file of a sharded checkpoint saved on the same number of ranks with the same FP8 plans; the
     * next step continues from it, bit for bit. Returns what was read.
     *
     * @throws CheckpointException if the folder holds no file for this rank and rank count, or the plans differ
     */
    public Checkpoint resume(Path dir) throws IOException {
        Path file = shardFile(dir, comm.rank(), comm.size());
        if (!Files.exists(file)) {
            List<String> found = new ArrayList<>();
            if (Files.isDirectory(dir)) {
                try (var files = Files.list(dir)) {
                    files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("rank-")).sorted()
                            .forEach(found::add);
                }
            }
            throw new CheckpointException(file + " does not exist: a sharded checkpoint resumes on the number of ranks"
                    + " it was saved with (" + dir + " holds " + (found.isEmpty() ? "no shard files" : found) + ")");
        }
        Checkpoint read = Checkpoint.read(file);
        for (Map.Entry<String, String> plan : Checkpoint.plansOf(model).entrySet()) {
            String saved = read.metadata().get("plan " + plan.getKey());
            if (!plan.getValue().equals(saved)) {
                throw new CheckpointException(file + " does not fit the model: layer " + plan.getKey() + " was saved with"
                        + " FP8 plan [" + saved + "] but the model's is [" + plan.getValue() + "]");
            }
        }
        Checkpoint loaded = Checkpoint.load(file, shards, optimizer);
        step = loaded.step();
        return loaded;
    }

    /**
     * Forward and backward with the collectives around them. With overlap, the weights of unit u + 1 (embed,
     * blocks.N, norm, head, in forward order) are gathered while unit u computes: issued before it starts, awaited
     * after it ends; and a unit's gradients are reduce-scattered as soon as its backward is done, while the units
     * below it compute. Without, every weight is gathered before the forward and every gradient reduce-scattered
     * after the backward. The collectives and their operands are the same, so the results are bit for bit too.
     */
    private LossResult forwardAndBackward(TokenIds in, TokenIds out) {
        List<Pending<Tensor>> gradients = new ArrayList<>(Collections.nCopies(shards.count(), null));
        Tensor logits;
        LossResult result;
        if (overlap) {
            List<List<Runnable>> gathers = new ArrayList<>();
            gathers.add(issueGathers(0));
            gathers.add(units.size() > 1 ? issueGathers(1) : List.of());
            gathers.get(0).forEach(Runnable::run);
            logits = model.forward(in, (name, y) -> {
                int u = unitIndex(name);
                if (u + 2 < units.size()) {
                    gathers.add(issueGathers(u + 2));
                }
                if (u + 1 < units.size()) {
                    gathers.get(u + 1).forEach(Runnable::run);
                }
            });
            result = Ops.where(logits).crossEntropy(logits, out);
            Ops.release(logits);
            model.backward(result.dLogits(), name -> issueReduceScatters(unitIndex(name), gradients), true);
        } else {
            for (int u = 0; u < units.size(); u++) {
                issueGathers(u).forEach(Runnable::run);
            }
            logits = model.forward(in);
            result = Ops.where(logits).crossEntropy(logits, out);
            Ops.release(logits);
            model.backward(result);
            for (int u = units.size() - 1; u >= 0; u--) {
                issueReduceScatters(u, gradients);
            }
        }
        for (int i = 0; i < shards.count(); i++) {
            Tensor into = shards.shard(i).grad();
            backend.copyElements(gradients.get(i).await(), 0, into, 0, into.size());
        }
        return result;
    }

    /**
     * Issues the all-gathers of unit u's parameters from the ranks' shards; each returned action awaits one and puts
     * it in place: the weight of an FP8 layer that takes it in FP8, handed to the layer; the rest in F32 into the
     * model's parameters.
     */
    private List<Runnable> issueGathers(int u) {
        List<Runnable> finish = new ArrayList<>();
        for (int i : unitParameters.get(u)) {
            Tensor shard = shards.shard(i).value();
            ShardLayout layout = shards.layout(i);
            Linear layer = fp8Layers[i];
            if (layer != null) {
                QuantSpec spec = layer.plan().output().second();
                Float8Tensor local = Fp8AllGather.quantizeShard(comm, backend, shard, spec, layout);
                Pending<Float8Tensor> wq = comm.allGatherAsync(local, layout.rows());
                finish.add(() -> layer.supplyQuantizedWeight(wq.await(), false));
                weightGatherBytes += Fp8AllGather.bytesPerRank(layout, spec);
            } else {
                Pending<Tensor> gathered = comm.allGatherAsync(shard);
                Parameter full = shards.full(i);
                finish.add(() -> {
                    layout.unpadInto(backend, gathered.await(), full.value());
                    full.markChanged();
                });
                weightGatherBytes += 4L * shard.size();
            }
        }
        return finish;
    }

    /** Issues the reduce-scatter (MEAN over ranks) of unit u's gradients, each rank keeping its shard. */
    private void issueReduceScatters(int u, List<Pending<Tensor>> into) {
        for (int i : unitParameters.get(u)) {
            // the model's gradient is not written again before the reduce-scatter is awaited (after the backward)
            into.set(i, comm.reduceScatterAsync(shards.layout(i).padded(backend, shards.full(i).grad()), ReduceOp.MEAN));
        }
    }

    private int unitIndex(String module) {
        int u = units.indexOf(module);
        if (u < 0) {
            throw new IllegalStateException("the model named a module " + module + " that is none of " + units);
        }
        return u;
    }

    /** The model's modules in forward order, each with its parameters: embed, blocks.0 ..., norm, head. */
    private static List<String> unitsOf(LlamaModel model) {
        List<String> names = new ArrayList<>();
        names.add("embed");
        for (int b = 0; b < model.config().layers(); b++) {
            names.add("blocks." + b);
        }
        names.add("norm");
        names.add("head");
        return names;
    }

    private static List<List<Integer>> parametersByUnit(List<String> units, List<Parameter> parameters) {
        List<List<Integer>> byUnit = new ArrayList<>();
        units.forEach(u -> byUnit.add(new ArrayList<>()));
        for (int i = 0; i < parameters.size(); i++) {
            String name = parameters.get(i).name();
            int unit = -1;
            for (int u = 0; u < units.size() && unit < 0; u++) {
                if (name.startsWith(units.get(u) + ".")) {
                    unit = u;
                }
            }
            if (unit < 0) {
                throw new IllegalArgumentException("parameter " + name + " belongs to none of the model's modules "
                        + units);
            }
            byUnit.get(unit).add(i);
        }
        return byUnit;
    }

    /**
     * Whether the collectives overlap compute (the default): prefetched weight gathers and per-module gradient
     * reduce-scatters, see {@link #forwardAndBackward}. Off, each step gathers everything first and reduce-scatters
     * everything last; the results are the same bit for bit.
     */
    public void setOverlap(boolean overlap) {
        this.overlap = overlap;
    }
}
