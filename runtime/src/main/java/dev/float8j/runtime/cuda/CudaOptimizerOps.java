package dev.float8j.runtime.cuda;

import static dev.float8j.runtime.cuda.OpLaunches.THREADS;
import static dev.float8j.runtime.cuda.OpLaunches.dt;
import static dev.float8j.runtime.cuda.OpLaunches.gradientTarget;
import static dev.float8j.runtime.cuda.OpLaunches.requireSameShape;
import static dev.float8j.runtime.cuda.OpLaunches.target;
import static dev.float8j.runtime.ops.HostTensors.requireActivation;
import static dev.float8j.runtime.ops.HostTensors.requireMatrix;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.ref.Reference;
import java.util.List;

/**
 * The optimizer's room of the CUDA backend (optimizer.cu): the gradients' squared norm for global-norm clipping and
 * AdamW, which reads that norm (and the guard of a non-finite loss) on the GPU, so a step needs no host round trip.
 * {@link CudaModelOps} hands its two {@link dev.float8j.runtime.ops.ModelOps} calls here.
 */
final class CudaOptimizerOps {
    private static final int SUMSQ_BLOCKS_PER_SM = 4;
    private static final int SUMSQ_THREADS = 256;

    /** struct AdamWArgs of optimizer.cu. */
    static final StructLayout ADAMW_ARGS = MemoryLayout.structLayout(JAVA_FLOAT.withName("learningRate"),
            JAVA_FLOAT.withName("beta1"), JAVA_FLOAT.withName("beta2"), JAVA_FLOAT.withName("eps"),
            JAVA_FLOAT.withName("weightDecay"), JAVA_FLOAT.withName("correction1"),
            JAVA_FLOAT.withName("correction2"), JAVA_FLOAT.withName("maxNorm"),
            JAVA_LONG.withName("sumOfSquares"), JAVA_LONG.withName("guardLoss"), JAVA_LONG.withName("castFaults"))
            .withName("AdamWArgs");

    private final CudaContext cuda;
    private final OpLaunches kernels;
    private final ProducerMaxima maxima;
    private final Workspace workspace;
    private final KernelModule optimizer;

    CudaOptimizerOps(CudaContext cuda, OpLaunches kernels, ProducerMaxima maxima, Workspace workspace) {
        this.cuda = cuda;
        this.kernels = kernels;
        this.maxima = maxima;
        this.workspace = workspace;
        optimizer = cuda.module("optimizer.cu", List.of(ADAMW_ARGS));
    }

    /** ModelOps.sumOfSquares: the squared norm of tensors, partial sums then their total, in a fixed order. */
    Tensor sumOfSquares(List<Tensor> tensors) {
        Tensor total = kernels.result(DType.F32, 1, 1);
        int[] blocks = new int[tensors.size()];
        long count = 0;
        for (int i = 0; i < tensors.size(); i++) {
            requireActivation("sumOfSquares", tensors.get(i));
            blocks[i] = sumOfSquaresBlocks(tensors.get(i).size());
            count += blocks[i];
        }
        long partials = workspace.floats(Math.max(1, count));
        long next = partials;
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            DeviceTensor d = kernels.in(t);
            kernels.launch(optimizer, "sum_squares_partial", blocks[i], SUMSQ_THREADS, 0, d.pointer(), dt(t.dtype()),
                    (long) t.size(), next);
            next += 4L * blocks[i];
            Reference.reachabilityFence(t);
        }
        kernels.launch(optimizer, "sum_squares_total", 1, 1024, 0, partials, Math.toIntExact(count),
                DeviceMemory.deviceView(total).pointer());
        return total;
    }

    /**
     * Blocks of the squared-norm partial sums for n elements: enough resident warps to keep the memory busy (four
     * blocks of 256 threads per multiprocessor; 64 blocks in all reached 450 GB/s on an H100, a fifth of what the
     * other streaming kernels read at), but no block without an element.
     */
    private int sumOfSquaresBlocks(long n) {
        return (int) Math.max(1, Math.min(SUMSQ_BLOCKS_PER_SM * cuda.multiprocessors,
                (n + SUMSQ_THREADS - 1) / SUMSQ_THREADS));
    }

    /** ModelOps.adamw: one fused update; the updated weight reports its maxima for its next cast. */
    void adamw(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamWStep step,
            Tensor sumOfSquaresOrNull, float maxNorm, Tensor guardLossOrNull) {
        String op = "adamw";
        requireSameShape(op, "grad", grad, "param", param);
        requireSameShape(op, "expAvg", expAvg, "param", param);
        requireSameShape(op, "expAvgSq", expAvgSq, "param", param);
        DeviceTensor w = target(op, "param", param);
        DeviceTensor g = gradientTarget(op, "grad", grad);
        DeviceTensor m = target(op, "expAvg", expAvg);
        DeviceTensor v = target(op, "expAvgSq", expAvgSq);
        long sumOfSquares = 0;
        if (sumOfSquaresOrNull != null) {
            if (!(maxNorm > 0)) {
                throw new IllegalArgumentException(op + ": maxNorm must be positive, got " + maxNorm);
            }
            requireMatrix(op, "sumOfSquares", sumOfSquaresOrNull, 1, 1);
            sumOfSquares = target(op, "sumOfSquares", sumOfSquaresOrNull).pointer();
        }
        long guardLoss = 0;
        if (guardLossOrNull != null) {
            requireMatrix(op, "guardLoss", guardLossOrNull, 1, 1);
            guardLoss = target(op, "guardLoss", guardLossOrNull).pointer();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment args = arena.allocate(ADAMW_ARGS);
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "learningRate"), step.learningRate());
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "beta1"), step.beta1());
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "beta2"), step.beta2());
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "eps"), step.eps());
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "weightDecay"), step.weightDecay());
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "correction1"),
                    (float) (1 - Math.pow(step.beta1(), step.step())));
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "correction2"),
                    (float) (1 - Math.pow(step.beta2(), step.step())));
            args.set(JAVA_FLOAT, CudaCasts.offset(ADAMW_ARGS, "maxNorm"), maxNorm);
            args.set(JAVA_LONG, CudaCasts.offset(ADAMW_ARGS, "sumOfSquares"), sumOfSquares);
            args.set(JAVA_LONG, CudaCasts.offset(ADAMW_ARGS, "guardLoss"), guardLoss);
            // a guarded update also skips after a cast of NaN or Inf, which the host learns of only at its next wait
            args.set(JAVA_LONG, CudaCasts.offset(ADAMW_ARGS, "castFaults"), cuda.faults.pointer());
            // the updated weight's maxima, attached once the update is queued (until then param keeps none)
            ProducerMaxima.Maxima reported = maxima.newMaxima(param, true);
            try {
                if (reported.lines() != 0) {
                    kernels.launch(optimizer, grad.dtype() == DType.F32 ? "adamw_lines" : "adamw_lines_bf16_grad",
                            kernels.lineGrid(reported), THREADS, 0, w.pointer(), g.pointer(), m.pointer(), v.pointer(),
                            (long) param.rows(), param.cols(), args, reported.total(), reported.lines());
                } else {
                    kernels.launch(optimizer, "adamw", kernels.gridFor(param.size()), THREADS, 0, w.pointer(),
                            g.pointer(), dt(grad.dtype()), m.pointer(), v.pointer(), (long) param.size(), args,
                            reported.total());
                }
            } catch (RuntimeException e) {
                reported.words().close();
                throw e;
            }
            reported.attachTo(param);
        }
        Reference.reachabilityFence(param);
        Reference.reachabilityFence(grad);
        Reference.reachabilityFence(expAvg);
        Reference.reachabilityFence(expAvgSq);
        Reference.reachabilityFence(sumOfSquaresOrNull);
        Reference.reachabilityFence(guardLossOrNull);
    }
}
