package dev.float8j.runtime.nn;

import dev.float8j.runtime.Backend;
import dev.float8j.runtime.Gemm;
import dev.float8j.runtime.Operand;
import dev.float8j.runtime.Quantize;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.plan.Float8Plan;
import dev.float8j.runtime.plan.GemmPlan;
import dev.float8j.runtime.quant.Float8Tensor;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A linear layer whose FP8 plan is chosen at run time. It takes the same steps, in the same order, as the
 * classes the {@code @Float8} processor writes for that plan, so the two give bit-identical results; the
 * generated ones just have the plan's branches resolved at compile time.
 *
 * <p>Per forward it saves the input x as {@link Float8Plan#savedInput()} says; nothing is saved for the weight:
 * grad_input quantizes the master weight along axis 0 again. A gemm switched off by {@link Float8Debug} runs in
 * high precision; the grad_weight switch is read in forward when it decides to save an FP8 x, else in backward.
 */
public class Float8Linear extends Linear {
    private static final int OPERANDS = Operand.values().length;
    private final Float8Plan plan;
    private final Float8Plan.SavedInput plannedSave;
    private final Deque<SavedTensor> savedInputs = new ArrayDeque<>();
    /** The fully qualified name and its debug sites, fixed on the first call (the module tree is built by then). */
    private String module;
    private Site[] sites;

    /** A layer of the given sizes whose gemms follow plan. */
    public Float8Linear(int inFeatures, int outFeatures, Float8Plan plan) {
        super(inFeatures, outFeatures);
        if (plan == null) {
            throw new IllegalArgumentException("Float8Linear needs a plan, e.g. Float8Plan.rowwise()");
        }
        this.plan = plan;
        this.plannedSave = plan.savedInput();
    }

    /** The plan every forward and backward follows. */
    public Float8Plan plan() {
        return plan;
    }

    @Override
    public String float8Plan() {
        return plan.toString();
    }

    @Override
    public Tensor forward(Tensor x) {
        checkInput(x);
        String module = module();
        Backend backend = backend();
        Tensor w = weight.value();
        GemmPlan output = plan.output();
        if (!output.fp8() || !Float8Debug.fp8Enabled(module, Gemm.OUTPUT)) {
            savedInputs.push(SavedTensor.highPrecision(x));
            return outputShape(backend.matmul(x, 1, w, 1, x.dtype()), x);
        }
        Float8Plan.SavedInput saving = Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT)
                ? plannedSave
                : Float8Plan.SavedInput.HIGH_PRECISION;
        Float8Tensor xq;
        if (saving == Float8Plan.SavedInput.BOTH_AXES_COPY) {
            Float8Tensor[] both = Quantize.quantizeBothAxes(backend, x, output.first(), site(Gemm.OUTPUT, Operand.INPUT),
                    plan.gradWeight().second(), site(Gemm.GRAD_WEIGHT, Operand.INPUT));
            xq = both[0];
            savedInputs.push(SavedTensor.fp8(both[1]));
        } else {
            xq = Quantize.quantize(backend, x, output.first(), site(Gemm.OUTPUT, Operand.INPUT));
            savedInputs.push(saving == Float8Plan.SavedInput.HIGH_PRECISION ? SavedTensor.highPrecision(x) : SavedTensor.fp8(xq));
        }
        Float8Tensor wq = Quantize.quantize(backend, w, output.second(), site(Gemm.OUTPUT, Operand.WEIGHT));
        return outputShape(backend.gemm(xq, wq, x.dtype()), x);
    }

    @Override
    public Tensor backward(Tensor gradOutput) {
        SavedTensor saved = popSaved(savedInputs);
        saved.checkGradOutput(this, gradOutput);
        String module = module();
        Backend backend = backend();
        Tensor w = weight.value();

        GemmPlan gradWeight = plan.gradWeight();
        GemmPlan gradInput = plan.gradInput();
        // dY for both backward gemms in one pass when both quantize it with one granularity
        Float8Tensor[] dYBothAxes = gradInput.fp8() && gradWeight.fp8()
                && gradInput.first().granularity() == gradWeight.first().granularity()
                && Float8Debug.fp8Enabled(module, Gemm.GRAD_INPUT) && Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT)
                ? Quantize.quantizeBothAxes(backend, gradOutput, gradInput.first(), site(Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT),
                        gradWeight.first(), site(Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT))
                : null;
        if (saved.isFp8()) {
            Float8Tensor dYq = dYBothAxes != null ? dYBothAxes[1]
                    : Quantize.quantize(backend, gradOutput, gradWeight.first(), site(Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT));
            weight.accumulateGradGemm(backend, dYq, savedInputAlongRows(backend, saved.fp8()));
        } else if (gradWeight.fp8() && Float8Debug.fp8Enabled(module, Gemm.GRAD_WEIGHT)) {
            Float8Tensor dYq = dYBothAxes != null ? dYBothAxes[1]
                    : Quantize.quantize(backend, gradOutput, gradWeight.first(), site(Gemm.GRAD_WEIGHT, Operand.GRAD_OUTPUT));
            Float8Tensor xq = Quantize.quantize(backend, saved.highPrecision(), gradWeight.second(), site(Gemm.GRAD_WEIGHT, Operand.INPUT));
            weight.accumulateGradGemm(backend, dYq, xq);
        } else {
            weight.accumulateGrad(backend.matmul(gradOutput, 0, saved.highPrecision(), 0));
        }

        if (gradInput.fp8() && Float8Debug.fp8Enabled(module, Gemm.GRAD_INPUT)) {
            Float8Tensor dYq = dYBothAxes != null ? dYBothAxes[0]
                    : Quantize.quantize(backend, gradOutput, gradInput.first(), site(Gemm.GRAD_INPUT, Operand.GRAD_OUTPUT));
            Float8Tensor wq = Quantize.quantize(backend, w, gradInput.second(), site(Gemm.GRAD_INPUT, Operand.WEIGHT));
            return saved.shapeLikeInput(backend.gemm(dYq, wq, saved.dtype()));
        }
        return saved.shapeLikeInput(backend.matmul(gradOutput, 1, w, 0, saved.dtype()));
    }

    /** The saved FP8 x along axis 0, as grad_weight needs it. */
    private Float8Tensor savedInputAlongRows(Backend backend, Float8Tensor savedX) {
        return switch (plannedSave) {
            case FORWARD_FP8_TRANSPOSED -> savedX.alongOtherAxis();
            case FORWARD_FP8_REQUANTIZED -> Quantize.requantize(backend, savedX, plan.gradWeight().second(),
                    site(Gemm.GRAD_WEIGHT, Operand.INPUT));
            case BOTH_AXES_COPY -> savedX;
            case HIGH_PRECISION -> throw new IllegalStateException("the plan saves x in high precision");
        };
    }

    @Override
    public long savedBytes() {
        long total = 0;
        for (SavedTensor s : savedInputs) {
            total += s.bytes();
        }
        return total;
    }

    private String module() {
        if (module == null) {
            String name = name();
            Site[] all = new Site[Gemm.values().length * OPERANDS];
            for (Gemm g : Gemm.values()) {
                for (Operand o : Operand.values()) {
                    all[g.ordinal() * OPERANDS + o.ordinal()] = new Site(name, g, o);
                }
            }
            sites = all;
            module = name;
        }
        return module;
    }

    private Site site(Gemm gemm, Operand operand) {
        return sites[gemm.ordinal() * OPERANDS + operand.ordinal()];
    }
}
