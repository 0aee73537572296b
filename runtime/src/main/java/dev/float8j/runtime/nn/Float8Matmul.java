package dev.float8j.runtime.nn;

import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.plan.Operand;
import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.DType;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.quant.AmaxHistory;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Supplier;

/**
 * The float8 matmul of one weight: y = x·Wᵀ (+ b) in forward, dX = dY·W, dW += dYᵀ·x (and db += the column sums
 * of dY) in backward, each gemm in FP8 or high precision as the {@link Float8Plan} says. A bias is never
 * quantized: the backend adds it in F32 to the gemm's F32 accumulator, before the one rounding to the output's
 * dtype, and its gradient is summed in F32 from dY itself, for every plan. It is the one place where a layer's three gemms are written:
 * {@link Linear}, {@link Float8Linear}, the classes the {@code @Float8} processor writes and user modules
 * (projections, tied heads, experts) all run through it.
 *
 * <p>What it owns besides the arithmetic:
 * <ul>
 *   <li><b>Saves.</b> Forward saves x as {@link Float8Plan#savedInput()} says; a high-precision save is a copy,
 *       so a caller may reuse its input buffer before backward. On a backend that prefers both-axes casts (the GPU),
 *       x's FP8 copy along axis 0 is made in forward and saved instead, wherever that gives grad_weight the same
 *       codes and scales as transposing or casting in backward would. Backward consumes the latest save (LIFO). Nothing
 *       is saved while {@link GradMode} is disabled; {@link #discardSaved()} drops pending saves.</li>
 *   <li><b>Failed calls change nothing.</b> Every operand is checked (shapes, and NaN or Inf wherever it is
 *       quantized) before the save is pushed or popped or a gradient is touched, so a call that throws can be
 *       retried.</li>
 *   <li><b>One thread at a time.</b> A second thread calling while a call is under way gets an
 *       {@link IllegalStateException}; use one layer per thread, or take turns.</li>
 *   <li><b>Debugging.</b> Each quantization is reported at the {@link Site} of its module, gemm and operand; the
 *       module's name follows the module tree at every call. A gemm switched off by {@link Float8Debug} runs in
 *       high precision; the grad_weight switch is read in forward when it decides to save an FP8 x, else in
 *       backward.</li>
 *   <li><b>Temporaries.</b> FP8 copies and intermediate results go back through {@link Backend#release} once their
 *       gemm is done, so a backend can reuse their memory.</li>
 *   <li><b>Weight casts once per step.</b> Inside a {@link WeightCastReuse} window, W's FP8 copies are made once
 *       per spec and reused by every pass while W's value and {@link Parameter#version()} stay the same (gradient
 *       accumulation); they go back through {@link Backend#release} when W changes or the window closes.</li>
 * </ul>
 */
public final class Float8Matmul {
    private static final int OPERANDS = Operand.values().length;
    private final Module owner;
    private final Float8Plan plan;
    private final Float8Plan.SavedInput plannedSave;
    private final Deque<SavedTensor> saved = new ArrayDeque<>();
    private final SingleThreadGuard guard;
    /** The owner's name and its sites, valid while {@link Module#treeEdits()} equals namedAt. */
    private int namedAt = -1;
    private String module;
    private Site[] sites;
    /** The output gemm's weight, quantized elsewhere (an FP8 all-gather), or null: forward quantizes W itself. */
    private Float8Tensor suppliedWeight;
    /** Whether W's high-precision value is current while a weight is supplied (else it must not be read). */
    private boolean weightValueCurrent = true;
    /** Per site (as {@link #sites}), the amaxes of its delayed-scaling casts; null where it scales currently. */
    private final AmaxHistory[] amaxHistories = new AmaxHistory[Gemm.values().length * OPERANDS];
    /**
     * Per tensor cast along both axes in one pass under delayed scaling (x in forward, dY in backward), the one history
     * both its sites share: a tensorwise scale does not depend on the axis. Kept apart from the per-site histories,
     * whose casts may run in another call (and would then record the tensor's amax twice a step in a shared one).
     */
    private final AmaxHistory[] pairHistories = new AmaxHistory[2];
    private static final int PAIR_INPUT = 0;
    private static final int PAIR_GRAD_OUTPUT = 1;
    /**
     * The histories this call's delayed casts left an amax pending in, committed when the call succeeds, so that a
     * call that fails leaves every history as it was.
     */
    private final List<AmaxHistory> castHistories = new ArrayList<>();
    /** W's FP8 copies reused inside a {@link WeightCastReuse} window. */
    private final WeightCastCache weightCasts;

    public Float8Matmul(Module owner, Float8Plan plan) {
        if (owner == null || plan == null) {
            throw new IllegalArgumentException("Float8Matmul needs the module it belongs to and a plan, e.g. Float8Plan.rowwise()");
        }
        this.owner = owner;
        this.plan = plan;
        this.plannedSave = plan.savedInput();
        this.guard = new SingleThreadGuard(owner);
        this.weightCasts = new WeightCastCache(guard);
    }

    public Float8Plan plan() {
        return plan;
    }

    /**
     * Hands the output gemm its weight already in FP8 for every later forward (and backward) until it is called again
     * with null: sharded training quantizes the weight on its shard and all-gathers it in FP8, so the layer does not
     * quantize W again. wq must have exactly the spec of the plan's output gemm weight ({@link GemmPlan#second()}:
     * format, granularity, axis 1, power-of-two flag) and W's shape, checked at each forward. grad_input uses
     * {@link Float8Tensor#alongOtherAxis()} of it where {@link #suppliedWeightServesGradInput()}, else W's
     * high-precision value, which must then be current.
     *
     * @param wq the weight in FP8, or null to go back to quantizing W in forward
     * @param weightValueCurrent whether W's high-precision value is the same weight (false when only the FP8 copy was
     *     gathered); a call that would need it while false fails with an {@link IllegalStateException}
     * @throws IllegalArgumentException if the plan's output gemm is not in FP8, or wq's spec is not the one it needs
     */
    public void supplyWeight(Float8Tensor wq, boolean weightValueCurrent) {
        enter();
        try {
            if (wq == null) {
                suppliedWeight = null;
                this.weightValueCurrent = true;
                return;
            }
            GemmPlan output = plan.output();
            if (!output.fp8()) {
                throw new IllegalArgumentException(owner + ": the plan's output gemm runs in high precision and takes no"
                        + " FP8 weight");
            }
            if (!wq.spec().equals(output.second())) {
                throw new IllegalArgumentException(owner + ": the output gemm's weight must be quantized as "
                        + output.second() + ", got " + wq.spec());
            }
            suppliedWeight = wq;
            this.weightValueCurrent = weightValueCurrent;
        } finally {
            exit();
        }
    }

    /**
     * Whether a supplied output-gemm weight also serves grad_input (dX = dY·W needs W along axis 0): true when the
     * plan's grad_input is in FP8 with a transposeable granularity (tensorwise, 128x128 blocks) and its weight spec
     * is the output spec along the other axis; rowwise, MX and 1x128 need W's high-precision value.
     */
    public boolean suppliedWeightServesGradInput() {
        GemmPlan gradInput = plan.gradInput();
        return plan.output().fp8() && gradInput.fp8() && gradInput.second().granularity().transposeable()
                && plan.output().second().otherAxis().equals(gradInput.second());
    }

    /**
     * y = x·Wᵀ for x viewed as [rows, K] and W [N, K]: a [rows, N] matrix in x's dtype. Saves x for backward
     * unless {@link GradMode} is disabled.
     */
    public Tensor forward(Backend backend, Tensor x, Tensor w) {
        return forward(backend, x, w, null);
    }

    /**
     * y = x·Wᵀ + bias, bias an F32 [1, N] tensor (null: none) added in F32 before y is rounded to x's dtype. Saves
     * as {@link #forward(Backend, Tensor, Tensor)} does: the bias's gradient needs only dY.
     */
    public Tensor forward(Backend backend, Tensor x, Tensor w, Tensor bias) {
        return forward(backend, x, null, w, null, bias, null);
    }

    /**
     * y = x·Wᵀ + bias for the weight parameter W, as {@link #forward(Backend, Tensor, Tensor, Tensor)} does; inside a
     * {@link WeightCastReuse} window the FP8 copy of W is made once and reused while W is unchanged.
     */
    public Tensor forward(Backend backend, Tensor x, Parameter weight, Tensor bias) {
        return forward(backend, x, null, weight.value(), weight, bias, null);
    }

    /**
     * As {@link #forward(Backend, Tensor, Parameter, Tensor)} for an input several layers read and nobody changes
     * until backward: a high-precision save is a view of it, not a copy, and an FP8 cast another layer already made
     * of it under the same spec is reused (see {@link SharedInput}).
     */
    public Tensor forward(Backend backend, SharedInput in, Parameter weight, Tensor bias) {
        return forward(backend, in.tensor(), in, weight.value(), weight, bias, null);
    }

    /**
     * addend + x·Wᵀ + bias, as {@link #forward(Backend, SharedInput, Parameter, Tensor)} computes x·Wᵀ + bias: the
     * addend (y's shape viewed as [rows, N], x's dtype; it stays the caller's) is added in F32 before y's one
     * rounding, inside the gemm where the backend can (CUDA: cuBLASLt's C). A residual connection
     * {@code x + proj(h)} so needs no add of its own. addend null gives the plain forward.
     */
    public Tensor forward(Backend backend, SharedInput in, Parameter weight, Tensor bias, Tensor addend) {
        return forward(backend, in.tensor(), in, weight.value(), weight, bias, addend);
    }

    /**
     * weight is w's parameter, or null when only the tensor is known (then nothing is reused); shared is x's
     * {@link SharedInput}, or null when x is the caller's to change (then saves are copies); addend is added to y, or
     * null.
     */
    private Tensor forward(Backend backend, Tensor x, SharedInput shared, Tensor w, Parameter weight, Tensor bias,
            Tensor addend) {
        enter();
        try {
            String module = module();
            boolean recording = GradMode.isEnabled();
            GemmPlan output = plan.output();
            if (suppliedWeight != null && (suppliedWeight.rows() != w.rows() || suppliedWeight.cols() != w.cols())) {
                throw new IllegalArgumentException(owner + ": the supplied FP8 weight is " + suppliedWeight.rows() + "x"
                        + suppliedWeight.cols() + ", the weight " + w.rows() + "x" + w.cols());
            }
            if (addend != null) {
                checkAddend("forward", addend, x.rows(), w.rows(), x.dtype());
            }
            if (!output.fp8() || !Float8Debug.fp8Enabled(module, Gemm.OUTPUT)) {
                requireWeightValue("the output gemm is switched off by Float8Debug");
                Tensor y = backend.matmul(x, 1, highPrecisionWeight(backend, w, weight, x.dtype()), 1, bias, x.dtype(),
                        addend);
                if (recording) {
                    saved.push(SavedTensor.highPrecision(SharedInput.keptForBackward(backend, x, shared != null)));
                }
                return y;
            }
            Float8Plan.SavedInput saving = !recording ? null
                    : Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT) ? plannedSave : Float8Plan.SavedInput.HIGH_PRECISION;
            Float8Tensor xq;
            SavedTensor save = null;
            boolean bothAxesInForward = bothAxesInForward(backend, saving);
            boolean bothDelayedAlike = delayedAlike(output.first(), plan.gradWeight().second());
            if (saving == Float8Plan.SavedInput.BOTH_AXES_COPY && !bothDelayedAlike
                    && (output.first().delayed() != null || plan.gradWeight().second().delayed() != null)) {
                // one operand delayed and the other not, or delayed otherwise: each axis is cast on its own
                xq = cast(backend, x, output.first(), Gemm.OUTPUT, Operand.INPUT);
                save = SavedTensor.fp8(cast(backend, x, plan.gradWeight().second(), Gemm.GRAD_WEIGHT, Operand.INPUT));
            } else if ((saving == Float8Plan.SavedInput.BOTH_AXES_COPY || bothAxesInForward) && bothDelayedAlike) {
                Float8Tensor[] casts = castBothAxesDelayed(backend, x, output.first(), site(Gemm.OUTPUT, Operand.INPUT),
                        plan.gradWeight().second(), site(Gemm.GRAD_WEIGHT, Operand.INPUT), PAIR_INPUT);
                xq = casts[0];
                save = SavedTensor.fp8(casts[1]);
            } else if (saving == Float8Plan.SavedInput.BOTH_AXES_COPY || bothAxesInForward) {
                Site columns = site(Gemm.OUTPUT, Operand.INPUT);
                Site rows = site(Gemm.GRAD_WEIGHT, Operand.INPUT);
                QuantSpec alongRows = plan.gradWeight().second();
                Supplier<Float8Tensor[]> both = () -> Quantize.quantizeBothAxes(backend, x, output.first(), columns,
                        alongRows, rows);
                Float8Tensor[] casts = shareable(shared, columns, rows)
                        ? shared.casts(List.of("both axes", output.first(), alongRows), both) : both.get();
                xq = casts[0];
                save = SavedTensor.fp8(casts[1]);
            } else {
                Site site = site(Gemm.OUTPUT, Operand.INPUT);
                xq = output.first().delayed() == null && shareable(shared, site)
                        ? shared.casts(List.of(output.first()), () -> new Float8Tensor[] {
                                cast(backend, x, output.first(), site)})[0]
                        : cast(backend, x, output.first(), site);
                if (saving == Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED
                        || saving == Float8Plan.SavedInput.FORWARD_FP8_REQUANTIZED) {
                    save = SavedTensor.fp8(xq);
                }
            }
            Float8Tensor reused = suppliedWeight != null ? null
                    : reusedWeight(backend, weight, output.second(), site(Gemm.OUTPUT, Operand.WEIGHT));
            Float8Tensor wq = suppliedWeight != null ? suppliedWeight : reused != null ? reused
                    : cast(backend, w, output.second(), Gemm.OUTPUT, Operand.WEIGHT);
            Tensor y = backend.gemm(xq, wq, bias, x.dtype(), addend, output.fastAccumulation());
            if (wq != suppliedWeight && wq != reused) {
                backend.release(wq);
            }
            if (save == null || save.fp8() != xq) {
                backend.release(xq);
            }
            if (saving == Float8Plan.SavedInput.HIGH_PRECISION && !bothAxesInForward) {
                save = SavedTensor.highPrecision(SharedInput.keptForBackward(backend, x, shared != null));
            }
            if (save != null) {
                saved.push(save);
            }
            recordAmaxes();
            return y;
        } finally {
            exit();
        }
    }

    /**
     * Consumes the latest save: adds dW = dYᵀ·x to weight's gradient and returns dX = dY·W in the shape and dtype of
     * the saved x. dY must have x's shape with the last dimension N.
     */
    public Tensor backward(Backend backend, Tensor gradOutput, Parameter weight) {
        return backward(backend, gradOutput, weight, null);
    }

    /**
     * As {@link #backward(Backend, Tensor, Parameter)}, and adds the column sums of dY (F32) to bias's gradient
     * when bias is not null.
     */
    public Tensor backward(Backend backend, Tensor gradOutput, Parameter weight, Parameter bias) {
        return backward(backend, gradOutput, weight, bias, null);
    }

    /**
     * addend + dX, as {@link #backward(Backend, Tensor, Parameter, Parameter)} computes dX and the gradients: the
     * addend (dX's shape viewed as [rows, K], the saved x's dtype; it stays the caller's) is added in F32 before dX's
     * one rounding, inside the grad_input gemm where the backend can. The gradient of an input several layers read
     * (q, k and v; gate and up) so sums as it is made. addend null gives the plain backward.
     */
    public Tensor backward(Backend backend, Tensor gradOutput, Parameter weight, Parameter bias, Tensor addend) {
        enter();
        try {
            if (saved.isEmpty()) {
                throw new IllegalStateException(owner + ": backward called without a matching forward"
                        + (GradMode.isEnabled() ? "" : " (forwards inside GradMode.disabled() save nothing)"));
            }
            SavedTensor s = saved.peek();
            Tensor w = weight.value();
            s.checkGradOutput(owner, gradOutput, w.rows());
            if (addend != null) {
                checkAddend("backward", addend, gradOutput.rows(), w.cols(), s.dtype());
            }
            if (bias != null && bias.value().size() != w.rows()) {
                throw new IllegalArgumentException(owner + ": the bias has " + bias.value().size()
                        + " elements, the weight " + w.rows() + " rows");
            }
            String module = module();
            GemmPlan gradWeight = plan.gradWeight();
            GemmPlan gradInput = plan.gradInput();
            boolean gradInputFp8 = gradInput.fp8() && Float8Debug.fp8Enabled(module, Gemm.GRAD_INPUT);
            boolean gradWeightFp8 = s.isFp8() || gradWeight.fp8() && Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT);

            // every operand is quantized (and so checked for NaN and Inf) before any state changes
            boolean dYBothAxesOnce = gradInputFp8 && gradWeight.fp8()
                    && gradInput.first().granularity() == gradWeight.first().granularity()
                    && Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT);
            Site dYColumns = site(Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT);
            Site dYRows = site(Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT);
            Float8Tensor[] dYBothAxes = !dYBothAxesOnce ? null
                    : delayedAlike(gradInput.first(), gradWeight.first())
                    ? castBothAxesDelayed(backend, gradOutput, gradInput.first(), dYColumns, gradWeight.first(), dYRows,
                            PAIR_GRAD_OUTPUT)
                    : gradInput.first().delayed() == null && gradWeight.first().delayed() == null
                    ? Quantize.quantizeBothAxes(backend, gradOutput, gradInput.first(), dYColumns, gradWeight.first(),
                            dYRows)
                    : null;
            Float8Tensor dYForGradWeight = !gradWeightFp8 ? null : dYBothAxes != null ? dYBothAxes[1]
                    : cast(backend, gradOutput, gradWeight.first(), Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT);
            Float8Tensor xForGradWeight = !gradWeightFp8 ? null : s.isFp8() ? savedInputAlongRows(backend, s.fp8())
                    : cast(backend, s.highPrecision(), gradWeight.second(), Gemm.GRAD_WEIGHT, Operand.INPUT);
            Float8Tensor dYForGradInput = !gradInputFp8 ? null : dYBothAxes != null ? dYBothAxes[0]
                    : cast(backend, gradOutput, gradInput.first(), Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT);
            boolean suppliedForGradInput = gradInputFp8 && suppliedWeight != null && suppliedWeightServesGradInput();
            if (!suppliedForGradInput) {
                requireWeightValue("grad_input needs W's high-precision value");
            }
            Float8Tensor reusedForGradInput = !gradInputFp8 || suppliedForGradInput ? null
                    : reusedWeight(backend, weight, gradInput.second(), site(Gemm.GRAD_INPUT, Operand.WEIGHT));
            Float8Tensor wForGradInput = !gradInputFp8 ? null : suppliedForGradInput ? suppliedWeight.alongOtherAxis()
                    : reusedForGradInput != null ? reusedForGradInput
                    : cast(backend, w, gradInput.second(), Gemm.GRAD_INPUT, Operand.WEIGHT);

            Tensor dBias = bias == null ? null : backend.columnSums(gradOutput);

            // from here on the call succeeds: the gradients grow and the save is consumed
            recordAmaxes();
            Tensor dX = gradInputFp8
                    ? backend.gemm(dYForGradInput, wForGradInput, null, s.dtype(), addend, gradInput.fastAccumulation())
                    : backend.matmul(gradOutput, 1, highPrecisionWeight(backend, w, weight, gradOutput.dtype()), 0,
                            null, s.dtype(), addend);
            if (gradWeightFp8) {
                weight.accumulateGradGemm(backend, dYForGradWeight, xForGradWeight);
            } else {
                weight.accumulateGradMatmul(backend, gradOutput, 0, s.highPrecision(), 0);
            }
            if (dBias != null) {
                bias.accumulateGrad(dBias);
                backend.release(dBias);
            }
            saved.pop();
            releaseAll(backend, dYForGradWeight, dYForGradInput,
                    suppliedForGradInput || reusedForGradInput != null ? null : wForGradInput, xForGradWeight);
            if (s.isFp8() && s.fp8() != xForGradWeight) {
                backend.release(s.fp8());
            } else if (!s.isFp8()) {
                backend.release(s.highPrecision());
            }
            return s.shapeLikeInput(dX);
        } finally {
            exit();
        }
    }

    /**
     * {@link Backend#checkAddend}, naming this layer and the pass (forward, backward): run before any save or gradient changes, so a
     * wrong addend fails the call with nothing changed.
     */
    private void checkAddend(String what, Tensor addend, int rows, int cols, DType dtype) {
        try {
            Backend.checkAddend(addend, rows, cols, dtype);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(owner + ": " + what + ": " + e.getMessage(), e);
        }
    }

    /**
     * An operand of {@link #gemm}: a tensor in high precision, or one already in FP8 (exactly one is set). A module
     * that keeps an FP8 copy between calls (a tied head's table, an expert's weight) passes it as is.
     */
    public record GemmInput(Tensor highPrecision, Float8Tensor fp8) {
        public GemmInput {
            if ((highPrecision == null) == (fp8 == null)) {
                throw new IllegalArgumentException("give the operand in high precision or in FP8, not both or neither");
            }
        }

        public static GemmInput of(Tensor t) {
            return new GemmInput(t, null);
        }

        public static GemmInput of(Float8Tensor q) {
            return new GemmInput(null, q);
        }
    }

    /**
     * One gemm of the plan, stateless: nothing is saved and no gradient is touched. Each operand is used as the
     * gemm needs it (see {@link dev.float8j.runtime.backend.Backend} for the axes): a high-precision operand is
     * quantized along the gemm's axis as the plan says; an FP8 operand is used as is when it already has the
     * plan's spec, or its exact other-axis view when its granularity is transposeable, and is rejected otherwise.
     * A gemm in high precision (by the plan or switched off by {@link Float8Debug}) takes high-precision operands.
     * The FP8 copies made here go back through {@link Backend#release}; the caller's operands are left alone.
     */
    public Tensor gemm(Backend backend, Gemm gemm, GemmInput first, GemmInput second, DType out) {
        enter();
        try {
            String module = module();
            GemmPlan g = plan.gemm(gemm);
            if (!g.fp8() || !Float8Debug.fp8Enabled(module, gemm)) {
                if (first.fp8() != null || second.fp8() != null) {
                    throw new IllegalArgumentException(owner + ": the " + gemm.name().toLowerCase() + " gemm runs in high"
                            + " precision" + (g.fp8() ? " (switched off by Float8Debug)" : "")
                            + " and takes high-precision operands, got an FP8 one");
                }
                return backend.matmul(first.highPrecision(), GemmPlan.firstAxis(gemm), second.highPrecision(),
                        GemmPlan.secondAxis(gemm), out);
            }
            Float8Tensor a = operand(backend, gemm, GemmPlan.firstOperand(gemm), g.first(), first);
            Float8Tensor b = operand(backend, gemm, GemmPlan.secondOperand(gemm), g.second(), second);
            Tensor c = backend.gemm(a, b, null, out, null, g.fastAccumulation());
            if (a != first.fp8()) {
                backend.release(a);
            }
            if (b != second.fp8()) {
                backend.release(b);
            }
            recordAmaxes();
            return c;
        } finally {
            exit();
        }
    }

    /** The operand as spec says: quantized from high precision, or the given FP8 tensor (or its other-axis view). */
    private Float8Tensor operand(Backend backend, Gemm gemm, Operand operand, QuantSpec spec, GemmInput given) {
        if (given.fp8() == null) {
            return cast(backend, given.highPrecision(), spec, gemm, operand);
        }
        Float8Tensor q = given.fp8();
        if (q.spec().equals(spec)) {
            return q;
        }
        if (spec.granularity().transposeable() && q.spec().equals(spec.otherAxis())) {
            return q.alongOtherAxis();
        }
        throw new IllegalArgumentException(owner + ": the " + operand.name().toLowerCase() + " of the "
                + gemm.name().toLowerCase() + " gemm must be quantized as " + spec + ", got " + q.spec());
    }

    /**
     * Whether forward casts x along both axes and saves the axis-0 copy for grad_weight, where the plan would save
     * x's forward copy to transpose (tensorwise, 128x128 blocks) or x itself to cast in backward (KEEP_HIGH_PRECISION
     * with an FP8 grad_weight): on a backend that prefers one cast to a transpose or a second pass over x, with
     * current scaling in one granularity, and unless a debug observer watches either site. Either way grad_weight
     * gets the same codes and scales; saving FP8 instead of x also takes less memory.
     */
    private boolean bothAxesInForward(Backend backend, Float8Plan.SavedInput saving) {
        QuantSpec forward = plan.output().first();
        QuantSpec backward = plan.gradWeight().second();
        boolean castInBackward = saving == Float8Plan.SavedInput.HIGH_PRECISION && plannedSave == saving
                && plan.gradWeight().fp8() && forward.granularity() == backward.granularity();
        return (saving == Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED || castInBackward)
                && backend.prefersBothAxesCasts()
                && (forward.delayed() == null && backward.delayed() == null || delayedAlike(forward, backward))
                && !Quantize.observed(site(Gemm.OUTPUT, Operand.INPUT))
                && !Quantize.observed(site(Gemm.GRAD_WEIGHT, Operand.INPUT));
    }

    /** The saved FP8 x along axis 0, as grad_weight needs it. */
    private Float8Tensor savedInputAlongRows(Backend backend, Float8Tensor savedX) {
        if (savedX.spec().equals(plan.gradWeight().second())) {
            return savedX;  // cast along both axes in forward (see bothAxesInForward), or a BOTH_AXES_COPY
        }
        return switch (plannedSave) {
            case FORWARD_FP8_TRANSPOSED -> savedX.alongOtherAxis();
            case FORWARD_FP8_REQUANTIZED -> Quantize.requantize(backend, savedX, plan.gradWeight().second(),
                    site(Gemm.GRAD_WEIGHT, Operand.INPUT));
            case BOTH_AXES_COPY -> savedX;
            case HIGH_PRECISION -> throw new IllegalStateException("the plan saves x in high precision");
        };
    }

    /**
     * W under spec from this layer's {@link WeightCastCache}, made now if it holds none for W's current value; null
     * where nothing is reused: no window open, no parameter known, or a debug observer watching the site (it sees a
     * fresh quantization at each pass, as outside a window).
     */
    private Float8Tensor reusedWeight(Backend backend, Parameter weight, QuantSpec spec, Site site) {
        WeightCastReuse.Window window = WeightCastReuse.active();
        if (window == null || weight == null || Quantize.observed(site)) {
            return null;
        }
        return weightCasts.get(window, backend, weight, spec, () -> cast(backend, weight.value(), spec, site),
                bothAxesWeightCast(backend, weight, spec));
    }

    /**
     * A cast of W along both axes for the cache, where the plan's output and grad_input gemms read W as one spec
     * along each axis and the backend prefers one cast to a transpose (tensorwise, 128x128 blocks) or to a second pass
     * over W (rowwise); else null.
     */
    private Supplier<Float8Tensor[]> bothAxesWeightCast(Backend backend, Parameter weight, QuantSpec spec) {
        QuantSpec along1 = spec.withAxis(1);
        QuantSpec along0 = spec.withAxis(0);
        Site outputSite = site(Gemm.OUTPUT, Operand.WEIGHT);
        Site gradInputSite = site(Gemm.GRAD_INPUT, Operand.WEIGHT);
        boolean planned = plan.output().fp8() && plan.gradInput().fp8() && plan.output().second().equals(along1)
                && plan.gradInput().second().equals(along0);
        if (!planned || !backend.prefersBothAxesCasts() || spec.delayed() != null
                || Quantize.observed(outputSite) || Quantize.observed(gradInputSite)) {
            return null;
        }
        return () -> Quantize.quantizeBothAxes(backend, weight.value(), along1, outputSite, along0, gradInputSite);
    }

    /**
     * w as the high-precision gemms read it beside an operand of dtype other: inside a {@link WeightCastReuse} window,
     * the backend's converted copy ({@link Backend#matmulOperand}) made once per weight version, so a GPU rounds an F32
     * weight to BF16 once per step instead of in every gemm; w itself outside a window or without its parameter.
     */
    private Tensor highPrecisionWeight(Backend backend, Tensor w, Parameter weight, DType other) {
        WeightCastReuse.Window window = WeightCastReuse.active();
        if (window == null || weight == null) {
            return w;
        }
        return weightCasts.operand(window, backend, weight, other);
    }

    /** Whether a cast of a shared input can serve several layers: none of the sites is observed. */
    private static boolean shareable(SharedInput shared, Site... sites) {
        if (shared == null) {
            return false;
        }
        for (Site s : sites) {
            if (Quantize.observed(s)) {
                return false;
            }
        }
        return true;
    }

    /** x quantized as spec says at the site of gemm's operand: from x's own amax, or from the site's amax history. */
    private Float8Tensor cast(Backend backend, Tensor x, QuantSpec spec, Gemm gemm, Operand operand) {
        return cast(backend, x, spec, site(gemm, operand));
    }

    private Float8Tensor cast(Backend backend, Tensor x, QuantSpec spec, Site site) {
        if (spec.delayed() == null) {
            return Quantize.quantize(backend, x, spec, site);
        }
        int at = site.gemm().ordinal() * OPERANDS + site.operand().ordinal();
        AmaxHistory history = usableHistory(backend, amaxHistories[at], spec.delayed());
        amaxHistories[at] = history;
        Float8Tensor q = Quantize.quantizeDelayed(backend, x, spec, site, history);
        pendingIn(history);
        return q;
    }

    /**
     * history, or a new one where it is null, kept for another scaling (a new plan) or on another backend (a layer
     * moved): a history lives where its casts run, so it starts afresh there, its first cast scaling from its own amax.
     */
    private static AmaxHistory usableHistory(Backend backend, AmaxHistory history, DelayedScaling scaling) {
        if (history == null || !history.scaling().equals(scaling) || !backend.canUse(history)) {
            return backend.newAmaxHistory(scaling);
        }
        return history;
    }

    /** Whether one tensor's two casts are both delayed, alike: one history and one pass then serve both. */
    private static boolean delayedAlike(QuantSpec a, QuantSpec b) {
        return a.delayed() != null && a.delayed().equals(b.delayed());
    }

    /**
     * x cast along both axes in one pass under delayed scaling (a along 1 at columnsSite, b along 0 at rowsSite), from
     * the history of the pair (PAIR_INPUT or PAIR_GRAD_OUTPUT) both sites share.
     */
    private Float8Tensor[] castBothAxesDelayed(Backend backend, Tensor x, QuantSpec a, Site columnsSite, QuantSpec b,
            Site rowsSite, int pair) {
        AmaxHistory history = usableHistory(backend, pairHistories[pair], a.delayed());
        pairHistories[pair] = history;
        Float8Tensor[] both = Quantize.quantizeBothAxesDelayed(backend, x, a, columnsSite, b, rowsSite, history);
        pendingIn(history);
        return both;
    }

    /** Fails when a supplied FP8 weight came without W's high-precision value and the call needs that value. */
    private void requireWeightValue(String why) {
        if (suppliedWeight != null && !weightValueCurrent) {
            throw new IllegalStateException(owner + ": " + why + ", but only the FP8 weight was supplied (gather the"
                    + " high-precision weight too)");
        }
    }

    private static void releaseAll(Backend backend, Float8Tensor... temporaries) {
        for (Float8Tensor q : temporaries) {
            if (q != null) {
                backend.release(q);
            }
        }
    }

    /** Bytes held for pending backward passes. */
    public long savedBytes() {
        enter();
        try {
            long total = 0;
            for (SavedTensor s : saved) {
                total += s.bytes();
            }
            return total;
        } finally {
            exit();
        }
    }

    /** Forward calls whose backward has not run yet. */
    public int pendingBackwards() {
        enter();
        try {
            return saved.size();
        } finally {
            exit();
        }
    }

    /** Drops every pending save (see {@link Module#discardSaved()}). */
    public void discardSaved() {
        guard.run(saved::clear);
    }

    private void enter() {
        guard.enter();
        castHistories.clear();
    }

    /** Notes that a cast of this call left an amax pending in history (each history committed once). */
    private void pendingIn(AmaxHistory history) {
        if (!castHistories.contains(history)) {
            castHistories.add(history);
        }
    }

    /** Records the amaxes this call's delayed casts read in their histories: the call has succeeded. */
    private void recordAmaxes() {
        for (AmaxHistory h : castHistories) {
            h.commit();
        }
        castHistories.clear();
    }

    private void exit() {
        guard.exit();
    }

    /** The owner's fully qualified name now, with its debug sites, remade only when the module tree changed. */
    private String module() {
        int edits = Module.treeEdits();
        if (edits != namedAt) {
            String name = owner.name();
            if (!name.equals(module)) {
                Site[] all = new Site[Gemm.values().length * OPERANDS];
                for (Gemm g : Gemm.values()) {
                    for (Operand o : Operand.values()) {
                        all[g.ordinal() * OPERANDS + o.ordinal()] = new Site(name, g, o);
                    }
                }
                sites = all;
                module = name;
            }
            namedAt = edits;
        }
        return module;
    }

    private Site site(Gemm gemm, Operand operand) {
        return sites[gemm.ordinal() * OPERANDS + operand.ordinal()];
    }
}
