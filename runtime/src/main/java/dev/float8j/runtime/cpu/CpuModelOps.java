package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.FloatVectors.FLOATS;
import static dev.float8j.runtime.cpu.FloatVectors.NARROW;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AdamWStep;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.HostOpChecks;
import dev.float8j.runtime.ops.HostTensors;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.ModelOps;
import dev.float8j.runtime.ops.NormResult;
import dev.float8j.runtime.ops.ReferenceModelOps;
import dev.float8j.runtime.ops.TokenIds;
import java.util.Arrays;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link ModelOps} of the CPU backend, on host tensors: float32 arithmetic on JDK vectors, spread over the
 * backend's threads by rows (or fixed-size chunks of elements), with attention in {@link CpuAttention}.
 *
 * <p>Results follow {@link ReferenceModelOps}'s conventions exactly (the same dtypes, one rounding to the output
 * dtype at the end) and equal it up to float32 rounding instead of double. Work is split into items of a fixed
 * size and partial sums are added in item order, so the results do not depend on the thread count.
 */
public final class CpuModelOps implements ModelOps {
    /** About this many elements per parallel item: large enough that handing an item to a thread is cheap. */
    static final int DEFAULT_GRAIN = 1 << 14;

    private final CpuThreads threads;
    private final int grain;
    private final CpuAttention attention;

    CpuModelOps(CpuThreads threads) {
        this(threads, DEFAULT_GRAIN);
    }

    /** Ops that split work into items of about grain elements (tests use a small grain to split small tensors). */
    CpuModelOps(CpuThreads threads, int grain) {
        this.threads = threads;
        this.grain = grain;
        this.attention = new CpuAttention(threads, grain);
    }

    @Override
    public TokenIds tokens(int[] ids, int batch, int seq) {
        return new TokenIds(ids, batch, seq, null);
    }

    /** Runs body(firstRow, endRow) over [0, rows) in items of whole rows of about grain elements. */
    private void forRows(int rows, int cols, RowRange body) {
        int rowsPerItem = Math.max(1, grain / Math.max(1, cols));
        int items = (rows + rowsPerItem - 1) / rowsPerItem;
        threads.forEachItem(items, item -> body.run(item * rowsPerItem, Math.min(rows, (item + 1) * rowsPerItem)));
    }

    @FunctionalInterface
    private interface RowRange {
        void run(int from, int to);
    }

    /** values (the op's F32 result) as a tensor of dtype, rounded on the threads for BF16 (see Bf16Rounding). */
    private Tensor result(float[] values, DType dtype, int... shape) {
        return Bf16Rounding.result(values, dtype, threads, grain, shape);
    }

    // ---- embedding ----

    @Override
    public Tensor embedding(Tensor table, TokenIds ids, DType out) {
        float[] t = HostTensors.f32("embedding", "the table", table);
        int dim = table.cols();
        int[] tokens = HostTensors.checkIds("embedding", ids, table.rows());
        float[] y = new float[tokens.length * dim];
        for (int i = 0; i < tokens.length; i++) {
            System.arraycopy(t, tokens[i] * dim, y, i * dim, dim);
        }
        return result(y, out, tokens.length, dim);
    }

    @Override
    public void embeddingBackward(Tensor gradTable, TokenIds ids, Tensor dOut) {
        String op = "embeddingBackward";
        float[] g = HostTensors.f32(op, "the table's gradient", gradTable);
        int dim = gradTable.cols();
        int[] tokens = HostTensors.checkIds(op, ids, gradTable.rows());
        HostTensors.requireMatrix(op, "dOut", dOut, tokens.length, dim);
        float[] dy = HostTensors.floats(op, dOut);
        // serial: repeated ids add into one row, and this is a tiny share of a step
        for (int i = 0; i < tokens.length; i++) {
            FloatVectors.axpy(1f, dy, i * dim, g, tokens[i] * dim, dim);
        }
    }

    // ---- RMSNorm ----

    @Override
    public NormResult rmsNorm(Tensor x, Tensor gain, float eps) {
        String op = "rmsNorm";
        HostOpChecks.rmsNorm(op, x, gain, eps);
        int rows = x.rows();
        int dim = x.cols();
        float[] in = HostTensors.floats(op, x);
        float[] g = HostTensors.f32(op, "gain", gain);
        float[] y = new float[in.length];
        float[] inverseRms = new float[rows];
        forRows(rows, dim, (from, to) -> {
            for (int r = from; r < to; r++) {
                int base = r * dim;
                float inv = (float) (1 / Math.sqrt(FloatVectors.sumOfSquares(in, base, base + dim) / dim + eps));
                inverseRms[r] = inv;
                int c = 0;
                for (int end = FLOATS.loopBound(dim); c < end; c += FLOATS.length()) {
                    FloatVector.fromArray(FLOATS, in, base + c).mul(inv).mul(FloatVector.fromArray(FLOATS, g, c))
                            .intoArray(y, base + c);
                }
                for (; c < dim; c++) {
                    y[base + c] = in[base + c] * inv * g[c];
                }
            }
        });
        return new NormResult(result(y, x.dtype(), x.shape()), Tensor.of(inverseRms, rows, 1));
    }

    @Override
    public Tensor rmsNormBackward(Tensor dY, Tensor x, Tensor gain, Tensor inverseRms, Tensor gradGain) {
        String op = "rmsNormBackward";
        int rows = x.rows();
        int dim = x.cols();
        HostOpChecks.rmsNormBackward(op, dY, x, gain, inverseRms, gradGain);
        float[] in = HostTensors.floats(op, x);
        float[] dy = HostTensors.floats(op, dY);
        float[] g = HostTensors.f32(op, "gain", gain);
        float[] inv = HostTensors.floats(op, inverseRms);
        float[] dGain = HostTensors.f32(op, "gradGain", gradGain);
        float[] dx = new float[in.length];
        int rowsPerItem = Math.max(1, grain / Math.max(1, dim));
        int items = (rows + rowsPerItem - 1) / rowsPerItem;
        // each item sums the gain's gradient of its rows apart; the partial sums are added in item order
        float[][] dGainParts = new float[items][dim];
        threads.forEachItem(items, item -> {
            float[] part = dGainParts[item];
            for (int r = item * rowsPerItem, end = Math.min(rows, (item + 1) * rowsPerItem); r < end; r++) {
                normBackwardRow(in, dy, g, inv[r], r * dim, dim, dx, part);
            }
        });
        for (float[] part : dGainParts) {
            FloatVectors.axpy(1f, part, 0, dGain, 0, dim);
        }
        return result(dx, x.dtype(), x.shape());
    }

    /** One row of RMSNorm's backward: with xhat = x·inv and dxhat = dy·gain, dx = inv · (dxhat − xhat · mean(dxhat · xhat)). */
    private static void normBackwardRow(float[] in, float[] dy, float[] g, float inv, int base, int dim, float[] dx,
            float[] dGain) {
        FloatVector dotAcc = FloatVector.zero(FLOATS);
        int c = 0;
        int vectorEnd = FLOATS.loopBound(dim);
        for (; c < vectorEnd; c += FLOATS.length()) {
            FloatVector xhat = FloatVector.fromArray(FLOATS, in, base + c).mul(inv);
            FloatVector d = FloatVector.fromArray(FLOATS, dy, base + c);
            dotAcc = d.mul(FloatVector.fromArray(FLOATS, g, c)).fma(xhat, dotAcc);
            d.fma(xhat, FloatVector.fromArray(FLOATS, dGain, c)).intoArray(dGain, c);
        }
        float dot = FloatVectors.sumLanes(dotAcc);
        for (; c < dim; c++) {
            float xhat = in[base + c] * inv;
            dot += dy[base + c] * g[c] * xhat;
            dGain[c] += dy[base + c] * xhat;
        }
        float meanDot = dot / dim;
        c = 0;
        for (; c < vectorEnd; c += FLOATS.length()) {
            FloatVector xhat = FloatVector.fromArray(FLOATS, in, base + c).mul(inv);
            FloatVector dxhat = FloatVector.fromArray(FLOATS, dy, base + c).mul(FloatVector.fromArray(FLOATS, g, c));
            dxhat.sub(xhat.mul(meanDot)).mul(inv).intoArray(dx, base + c);
        }
        for (; c < dim; c++) {
            float xhat = in[base + c] * inv;
            dx[base + c] = inv * (dy[base + c] * g[c] - xhat * meanDot);
        }
    }

    // ---- rotary position embedding ----

    @Override
    public Tensor rope(Tensor x, AttentionShape shape, int heads, float theta, boolean inverse) {
        String op = "rope";
        HostOpChecks.rope(op, x, shape, heads, theta);
        int headDim = shape.headDim();
        float[] in = HostTensors.floats(op, x);
        float[] y = new float[in.length];
        int half = headDim / 2;
        int seq = shape.seq();
        // the angles depend on position and pair only: one table per call, computed in double as the reference
        float[] cosines = new float[seq * half];
        float[] sines = new float[cosines.length];
        for (int position = 0; position < seq; position++) {
            for (int i = 0; i < half; i++) {
                double angle = (inverse ? -1 : 1) * position * Math.pow(theta, -2.0 * i / headDim);
                cosines[position * half + i] = (float) Math.cos(angle);
                sines[position * half + i] = (float) Math.sin(angle);
            }
        }
        int rowWidth = heads * headDim;
        forRows(shape.tokens(), rowWidth, (from, to) -> {
            for (int row = from; row < to; row++) {
                int angles = (row % seq) * half;
                for (int h = 0; h < heads; h++) {
                    rotate(in, y, row * rowWidth + h * headDim, half, cosines, sines, angles);
                }
            }
        });
        return result(y, x.dtype(), x.shape());
    }

    /** One head's rotation: pairs (i, i + half) of in[base..] by the angles at cosines/sines[angles..]. */
    private static void rotate(float[] in, float[] y, int base, int half, float[] cosines, float[] sines, int angles) {
        int i = 0;
        for (int end = FLOATS.loopBound(half); i < end; i += FLOATS.length()) {
            FloatVector cos = FloatVector.fromArray(FLOATS, cosines, angles + i);
            FloatVector sin = FloatVector.fromArray(FLOATS, sines, angles + i);
            FloatVector a = FloatVector.fromArray(FLOATS, in, base + i);
            FloatVector b = FloatVector.fromArray(FLOATS, in, base + i + half);
            a.mul(cos).sub(b.mul(sin)).intoArray(y, base + i);
            a.mul(sin).add(b.mul(cos)).intoArray(y, base + i + half);
        }
        for (int end = i + NARROW.loopBound(half - i); i < end; i += NARROW.length()) {
            FloatVector cos = FloatVector.fromArray(NARROW, cosines, angles + i);
            FloatVector sin = FloatVector.fromArray(NARROW, sines, angles + i);
            FloatVector a = FloatVector.fromArray(NARROW, in, base + i);
            FloatVector b = FloatVector.fromArray(NARROW, in, base + i + half);
            a.mul(cos).sub(b.mul(sin)).intoArray(y, base + i);
            a.mul(sin).add(b.mul(cos)).intoArray(y, base + i + half);
        }
        for (; i < half; i++) {
            float cos = cosines[angles + i];
            float sin = sines[angles + i];
            float a = in[base + i];
            float b = in[base + i + half];
            y[base + i] = a * cos - b * sin;
            y[base + i + half] = a * sin + b * cos;
        }
    }

    // ---- attention ----

    @Override
    public AttentionResult attention(Tensor q, Tensor k, Tensor v, AttentionShape shape) {
        HostOpChecks.attentionInputs("attention", q, k, v, shape);
        return attention.forward(q, k, v, shape);
    }

    @Override
    public AttentionGrads attentionBackward(Tensor dOut, Tensor q, Tensor k, Tensor v, AttentionResult forward,
            AttentionShape shape) {
        String op = "attentionBackward";
        HostOpChecks.attentionBackward(op, dOut, q, k, v, forward, shape);
        return attention.backward(dOut, q, k, v, forward, shape);
    }

    // ---- SwiGLU ----

    @Override
    public Tensor swiglu(Tensor gate, Tensor up) {
        String op = "swiglu";
        HostTensors.requireActivation(op, gate);
        HostTensors.requireSameShape(op, "gate", gate, "up", up);
        float[] g = HostTensors.floats(op, gate);
        float[] u = HostTensors.floats(op, up);
        float[] h = new float[g.length];
        forRows(g.length, 1, (from, to) -> {
            int i = from;
            for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
                FloatVector gv = FloatVector.fromArray(FLOATS, g, i);
                gv.mul(sigmoid(gv)).mul(FloatVector.fromArray(FLOATS, u, i)).intoArray(h, i);
            }
            for (; i < to; i++) {
                h[i] = g[i] * sigmoid(g[i]) * u[i];
            }
        });
        return result(h, gate.dtype(), gate.shape());
    }

    @Override
    public Tensor[] swigluBackward(Tensor dH, Tensor gate, Tensor up) {
        String op = "swigluBackward";
        HostOpChecks.swigluBackward(op, dH, gate, up);
        float[] dh = HostTensors.floats(op, dH);
        float[] g = HostTensors.floats(op, gate);
        float[] u = HostTensors.floats(op, up);
        float[] dGate = new float[g.length];
        float[] dUp = new float[g.length];
        forRows(g.length, 1, (from, to) -> {
            int i = from;
            for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
                FloatVector gv = FloatVector.fromArray(FLOATS, g, i);
                FloatVector d = FloatVector.fromArray(FLOATS, dh, i);
                FloatVector s = sigmoid(gv);
                // silu'(g) = s + g·s·(1 − s)
                FloatVector siluGrad = gv.mul(s).mul(s.neg().add(1f)).add(s);
                d.mul(FloatVector.fromArray(FLOATS, u, i)).mul(siluGrad).intoArray(dGate, i);
                d.mul(gv).mul(s).intoArray(dUp, i);
            }
            for (; i < to; i++) {
                float s = sigmoid(g[i]);
                dGate[i] = dh[i] * u[i] * (s + g[i] * s * (1 - s));
                dUp[i] = dh[i] * g[i] * s;
            }
        });
        return new Tensor[] {result(dGate, gate.dtype(), gate.shape()),
                result(dUp, up.dtype(), up.shape())};
    }

    private static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(FLOATS, 1f).div(FloatVectors.exp(x.neg()).add(1f));
    }

    private static float sigmoid(float x) {
        return 1 / (1 + FloatVectors.exp(-x));
    }

    // ---- residual ----

    @Override
    public Tensor add(Tensor a, Tensor b) {
        String op = "add";
        HostOpChecks.add(op, a, b);
        float[] x = HostTensors.floats(op, a);
        float[] y = HostTensors.floats(op, b);
        float[] sum = new float[x.length];
        forRows(x.length, 1, (from, to) -> {
            int i = from;
            for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
                FloatVector.fromArray(FLOATS, x, i).add(FloatVector.fromArray(FLOATS, y, i)).intoArray(sum, i);
            }
            for (; i < to; i++) {
                sum[i] = x[i] + y[i];
            }
        });
        return result(sum, a.dtype(), a.shape());
    }

    // ---- loss ----

    @Override
    public LossResult crossEntropy(Tensor logits, TokenIds targets) {
        String op = "crossEntropy";
        int[] t = HostOpChecks.crossEntropyTargets(op, logits, targets);
        int rows = logits.rows();
        int classes = logits.cols();
        float[] x = HostTensors.floats(op, logits);
        float[] grad = new float[x.length];
        float[] rowLoss = new float[rows];
        float perRow = 1f / rows;
        forRows(rows, classes, (from, to) -> {
            for (int r = from; r < to; r++) {
                rowLoss[r] = softmaxCrossEntropyRow(x, r * classes, classes, t[r], perRow, grad);
            }
        });
        double total = 0; // the row losses in row order, so the mean does not depend on the split
        for (float l : rowLoss) {
            total += l;
        }
        return new LossResult(Tensor.of(new float[] {(float) (total / rows)}, 1, 1),
                result(grad, logits.dtype(), logits.shape()));
    }

    /** One row's loss log Σ e^x − x[target]; writes (softmax − onehot(target)) · perRow into grad. */
    private static float softmaxCrossEntropyRow(float[] x, int base, int classes, int target, float perRow,
            float[] grad) {
        int vectorEnd = FLOATS.loopBound(classes);
        FloatVector maxAcc = FloatVector.broadcast(FLOATS, Float.NEGATIVE_INFINITY);
        int c = 0;
        for (; c < vectorEnd; c += FLOATS.length()) {
            maxAcc = maxAcc.max(FloatVector.fromArray(FLOATS, x, base + c));
        }
        float max = maxAcc.reduceLanes(VectorOperators.MAX);
        for (; c < classes; c++) {
            max = Math.max(max, x[base + c]);
        }
        FloatVector sumAcc = FloatVector.zero(FLOATS);
        for (c = 0; c < vectorEnd; c += FLOATS.length()) {
            sumAcc = sumAcc.add(FloatVectors.exp(FloatVector.fromArray(FLOATS, x, base + c).sub(max)));
        }
        float sum = FloatVectors.sumLanes(sumAcc);
        for (; c < classes; c++) {
            sum += FloatVectors.exp(x[base + c] - max);
        }
        float logSum = max + (float) Math.log(sum);
        for (c = 0; c < vectorEnd; c += FLOATS.length()) {
            FloatVectors.exp(FloatVector.fromArray(FLOATS, x, base + c).sub(logSum)).mul(perRow)
                    .intoArray(grad, base + c);
        }
        for (; c < classes; c++) {
            grad[base + c] = FloatVectors.exp(x[base + c] - logSum) * perRow;
        }
        grad[base + target] -= perRow;
        return logSum - x[base + target];
    }

    // ---- optimizer ----

    @Override
    public Tensor sumOfSquares(List<Tensor> tensors) {
        double sum = 0; // the chunks' float sums, added in chunk order
        for (Tensor t : tensors) {
            float[] values = HostTensors.floats("sumOfSquares", t);
            int chunks = (values.length + grain - 1) / grain;
            float[] parts = new float[chunks];
            threads.forEachItem(chunks, chunk -> parts[chunk] = FloatVectors.sumOfSquares(values, chunk * grain,
                    Math.min(values.length, (chunk + 1) * grain)));
            for (float p : parts) {
                sum += p;
            }
        }
        return Tensor.of(new float[] {(float) sum}, 1, 1);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamWStep step, Tensor sumOfSquaresOrNull,
            float maxNorm, Tensor guardLossOrNull) {
        String op = "adamw";
        float clip = (float) HostOpChecks.adamw(op, param, grad, expAvg, expAvgSq, sumOfSquaresOrNull, maxNorm,
                guardLossOrNull);
        float[] w = HostTensors.f32(op, "param", param);
        float[] g = HostTensors.f32(op, "grad", grad);
        float[] m = HostTensors.f32(op, "expAvg", expAvg);
        float[] v = HostTensors.f32(op, "expAvgSq", expAvgSq);
        if (HostOpChecks.adamwGuardSkips(sumOfSquaresOrNull, guardLossOrNull)) {
            return;  // a NaN or Inf loss or gradient norm: the parameter and its moments stay as they were
        }
        AdamWConstants k = new AdamWConstants(step, clip);
        forRows(w.length, 1, (from, to) -> k.update(w, g, m, v, from, to));
    }

    /** One AdamW step's constants in float, and the update of a range of elements with them. */
    private record AdamWConstants(float clip, float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2,
            float inverseCorrection1, float inverseCorrection2, float eps, float weightDecay, float learningRate) {

        AdamWConstants(AdamWStep step, float clip) {
            this(clip, step.beta1(), (float) (1 - (double) step.beta1()), step.beta2(),
                    (float) (1 - (double) step.beta2()),
                    (float) (1 / (1 - Math.pow(step.beta1(), step.step()))),
                    (float) (1 / (1 - Math.pow(step.beta2(), step.step()))), step.eps(), step.weightDecay(),
                    step.learningRate());
        }

        void update(float[] w, float[] g, float[] m, float[] v, int from, int to) {
            int i = from;
            for (int end = from + FLOATS.loopBound(to - from); i < end; i += FLOATS.length()) {
                FloatVector gi = FloatVector.fromArray(FLOATS, g, i).mul(clip);
                FloatVector mi = FloatVector.fromArray(FLOATS, m, i).mul(beta1).add(gi.mul(oneMinusBeta1));
                FloatVector vi = FloatVector.fromArray(FLOATS, v, i).mul(beta2).add(gi.mul(gi).mul(oneMinusBeta2));
                mi.intoArray(m, i);
                vi.intoArray(v, i);
                FloatVector wi = FloatVector.fromArray(FLOATS, w, i);
                FloatVector update = mi.mul(inverseCorrection1)
                        .div(vi.mul(inverseCorrection2).lanewise(VectorOperators.SQRT).add(eps))
                        .add(wi.mul(weightDecay));
                wi.sub(update.mul(learningRate)).intoArray(w, i);
            }
            for (; i < to; i++) {
                float gi = g[i] * clip;
                m[i] = beta1 * m[i] + oneMinusBeta1 * gi;
                v[i] = beta2 * v[i] + oneMinusBeta2 * gi * gi;
                float update = (m[i] * inverseCorrection1) / ((float) Math.sqrt(v[i] * inverseCorrection2) + eps)
                        + weightDecay * w[i];
                w[i] = w[i] - learningRate * update;
            }
        }
    }

    @Override
    public void zero(Tensor t) {
        HostTensors.requireHost("zero", t);
        if (t.dtype() == DType.F32) {
            Arrays.fill(t.data(), 0f);
        } else {
            Arrays.fill(t.bf16Data(), (short) 0);
        }
    }
}
