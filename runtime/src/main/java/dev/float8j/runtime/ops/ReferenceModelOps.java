package dev.float8j.runtime.ops;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * {@link ModelOps} on host tensors, one element at a time in double, results rounded once to the output dtype:
 * slow on purpose, the oracle that device implementations are tested against, and what host backends run.
 */
public final class ReferenceModelOps implements ModelOps {
    /** Stateless, so one instance serves every host backend. */
    public static final ReferenceModelOps INSTANCE = new ReferenceModelOps();

    private ReferenceModelOps() {
    }

    @Override
    public TokenIds tokens(int[] ids, int batch, int seq) {
        return new TokenIds(ids, batch, seq, null);
    }

    // ---- embedding ----

    @Override
    public Tensor embedding(Tensor table, TokenIds ids, DType out) {
        float[] t = HostTensors.f32("embedding", "the table", table);
        int dim = table.cols();
        int[] tokens = HostTensors.checkIds("embedding", ids, table.rows());
        double[] y = new double[tokens.length * dim];
        for (int i = 0; i < tokens.length; i++) {
            for (int c = 0; c < dim; c++) {
                y[i * dim + c] = t[tokens[i] * dim + c];
            }
        }
        return HostTensors.result(y, out, tokens.length, dim);
    }

    @Override
    public void embeddingBackward(Tensor gradTable, TokenIds ids, Tensor dOut) {
        String op = "embeddingBackward";
        float[] g = HostTensors.f32(op, "the table's gradient", gradTable);
        int dim = gradTable.cols();
        int[] tokens = HostTensors.checkIds(op, ids, gradTable.rows());
        HostTensors.requireMatrix(op, "dOut", dOut, tokens.length, dim);
        float[] dy = HostTensors.read(op, dOut);
        for (int i = 0; i < tokens.length; i++) {
            for (int c = 0; c < dim; c++) {
                g[tokens[i] * dim + c] += dy[i * dim + c];
            }
        }
    }

    // ---- RMSNorm ----

    @Override
    public NormResult rmsNorm(Tensor x, Tensor gain, float eps) {
        String op = "rmsNorm";
        HostOpChecks.rmsNorm(op, x, gain, eps);
        int rows = x.rows();
        int dim = x.cols();
        float[] in = HostTensors.read(op, x);
        float[] g = HostTensors.f32(op, "gain", gain);
        double[] y = new double[in.length];
        float[] inverseRms = new float[rows];
        for (int r = 0; r < rows; r++) {
            double inv = inverseRms(in, r * dim, dim, eps);
            inverseRms[r] = (float) inv;
            for (int c = 0; c < dim; c++) {
                y[r * dim + c] = in[r * dim + c] * inv * g[c];
            }
        }
        return new NormResult(HostTensors.result(y, x.dtype(), x.shape()), Tensor.of(inverseRms, rows, 1));
    }

    private static double inverseRms(float[] x, int base, int dim, float eps) {
        double sumSquares = 0;
        for (int c = 0; c < dim; c++) {
            sumSquares += (double) x[base + c] * x[base + c];
        }
        return 1 / Math.sqrt(sumSquares / dim + eps);
    }

    @Override
    public Tensor rmsNormBackward(Tensor dY, Tensor x, Tensor gain, Tensor inverseRms, Tensor gradGain) {
        String op = "rmsNormBackward";
        int rows = x.rows();
        int dim = x.cols();
        HostOpChecks.rmsNormBackward(op, dY, x, gain, inverseRms, gradGain);
        float[] in = HostTensors.read(op, x);
        float[] dy = HostTensors.read(op, dY);
        float[] g = HostTensors.f32(op, "gain", gain);
        float[] inv = HostTensors.read(op, inverseRms);
        float[] dGain = HostTensors.f32(op, "gradGain", gradGain);
        double[] dx = new double[in.length];
        double[] dGainSum = new double[dim];
        for (int r = 0; r < rows; r++) {
            int base = r * dim;
            // with xhat = x·inv and dxhat = dy·gain: dx = inv · (dxhat − xhat · mean(dxhat · xhat))
            double dot = 0;
            for (int c = 0; c < dim; c++) {
                double xhat = (double) in[base + c] * inv[r];
                dot += (double) dy[base + c] * g[c] * xhat;
                dGainSum[c] += dy[base + c] * xhat;
            }
            double meanDot = dot / dim;
            for (int c = 0; c < dim; c++) {
                double xhat = (double) in[base + c] * inv[r];
                dx[base + c] = inv[r] * ((double) dy[base + c] * g[c] - xhat * meanDot);
            }
        }
        for (int c = 0; c < dim; c++) {
            dGain[c] += (float) dGainSum[c];
        }
        return HostTensors.result(dx, x.dtype(), x.shape());
    }

    // ---- rotary position embedding ----

    @Override
    public Tensor rope(Tensor x, AttentionShape shape, int heads, float theta, boolean inverse) {
        String op = "rope";
        HostOpChecks.rope(op, x, shape, heads, theta);
        int headDim = shape.headDim();
        float[] in = HostTensors.read(op, x);
        double[] y = new double[in.length];
        int half = headDim / 2;
        // the angles depend on position and pair only: one table per call, shared by every row and head
        double[] cosines = new double[shape.seq() * half];
        double[] sines = new double[cosines.length];
        for (int position = 0; position < shape.seq(); position++) {
            for (int i = 0; i < half; i++) {
                double angle = (inverse ? -1 : 1) * position * Math.pow(theta, -2.0 * i / headDim);
                cosines[position * half + i] = Math.cos(angle);
                sines[position * half + i] = Math.sin(angle);
            }
        }
        for (int row = 0; row < shape.tokens(); row++) {
            int angles = (row % shape.seq()) * half;
            for (int h = 0; h < heads; h++) {
                int base = row * heads * headDim + h * headDim;
                for (int i = 0; i < half; i++) {
                    double cos = cosines[angles + i];
                    double sin = sines[angles + i];
                    double a = in[base + i];
                    double b = in[base + i + half];
                    y[base + i] = a * cos - b * sin;
                    y[base + i + half] = a * sin + b * cos;
                }
            }
        }
        return HostTensors.result(y, x.dtype(), x.shape());
    }

    // ---- attention ----

    @Override
    public AttentionResult attention(Tensor q, Tensor k, Tensor v, AttentionShape shape) {
        ReferenceAttention attention = new ReferenceAttention(shape);
        HostOpChecks.attentionInputs("attention", q, k, v, shape);
        return attention.forward(q, k, v);
    }

    @Override
    public AttentionGrads attentionBackward(Tensor dOut, Tensor q, Tensor k, Tensor v, AttentionResult forward,
            AttentionShape shape) {
        String op = "attentionBackward";
        HostOpChecks.attentionBackward(op, dOut, q, k, v, forward, shape);
        return new ReferenceAttention(shape).backward(dOut, q, k, v, forward);
    }

    // ---- SwiGLU ----

    @Override
    public Tensor swiglu(Tensor gate, Tensor up) {
        String op = "swiglu";
        HostTensors.requireActivation(op, gate);
        HostTensors.requireSameShape(op, "gate", gate, "up", up);
        float[] g = HostTensors.read(op, gate);
        float[] u = HostTensors.read(op, up);
        double[] h = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            h[i] = g[i] * sigmoid(g[i]) * u[i];
        }
        return HostTensors.result(h, gate.dtype(), gate.shape());
    }

    @Override
    public Tensor[] swigluBackward(Tensor dH, Tensor gate, Tensor up) {
        String op = "swigluBackward";
        HostOpChecks.swigluBackward(op, dH, gate, up);
        float[] dh = HostTensors.read(op, dH);
        float[] g = HostTensors.read(op, gate);
        float[] u = HostTensors.read(op, up);
        double[] dGate = new double[g.length];
        double[] dUp = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            double s = sigmoid(g[i]);
            // silu'(g) = s + g·s·(1 − s)
            dGate[i] = dh[i] * u[i] * (s + g[i] * s * (1 - s));
            dUp[i] = dh[i] * g[i] * s;
        }
        return new Tensor[] {HostTensors.result(dGate, gate.dtype(), gate.shape()),
                HostTensors.result(dUp, up.dtype(), up.shape())};
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    // ---- residual ----

    @Override
    public Tensor add(Tensor a, Tensor b) {
        String op = "add";
        HostOpChecks.add(op, a, b);
        float[] x = HostTensors.read(op, a);
        float[] y = HostTensors.read(op, b);
        double[] sum = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            sum[i] = (double) x[i] + y[i];
        }
        return HostTensors.result(sum, a.dtype(), a.shape());
    }

    // ---- loss ----

    @Override
    public LossResult crossEntropy(Tensor logits, TokenIds targets) {
        String op = "crossEntropy";
        int[] t = HostOpChecks.crossEntropyTargets(op, logits, targets);
        int rows = logits.rows();
        int classes = logits.cols();
        float[] x = HostTensors.read(op, logits);
        double[] grad = new double[x.length];
        double total = 0;
        for (int r = 0; r < rows; r++) {
            int base = r * classes;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                max = Math.max(max, x[base + c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(x[base + c] - max);
            }
            double logSum = max + Math.log(sum);
            total += logSum - x[base + t[r]];
            for (int c = 0; c < classes; c++) {
                grad[base + c] = Math.exp(x[base + c] - logSum) / rows;
            }
            grad[base + t[r]] -= 1.0 / rows;
        }
        return new LossResult(Tensor.of(new float[] {(float) (total / rows)}, 1, 1),
                HostTensors.result(grad, logits.dtype(), logits.shape()));
    }

    // ---- optimizer ----

    @Override
    public Tensor sumOfSquares(List<Tensor> tensors) {
        double sum = 0;
        for (Tensor t : tensors) {
            for (float v : HostTensors.read("sumOfSquares", t)) {
                sum += (double) v * v;
            }
        }
        return Tensor.of(new float[] {(float) sum}, 1, 1);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamWStep step, Tensor sumOfSquaresOrNull,
            float maxNorm, Tensor guardLossOrNull) {
        String op = "adamw";
        double clip = HostOpChecks.adamw(op, param, grad, expAvg, expAvgSq, sumOfSquaresOrNull, maxNorm,
                guardLossOrNull);
        float[] w = HostTensors.f32(op, "param", param);
        float[] g = HostTensors.f32(op, "grad", grad);
        float[] m = HostTensors.f32(op, "expAvg", expAvg);
        float[] v = HostTensors.f32(op, "expAvgSq", expAvgSq);
        if (HostOpChecks.adamwGuardSkips(sumOfSquaresOrNull, guardLossOrNull)) {
            return;  // a NaN or Inf loss or gradient norm: the parameter and its moments stay as they were
        }
        double beta1 = step.beta1();
        double beta2 = step.beta2();
        double correction1 = 1 - Math.pow(beta1, step.step());
        double correction2 = 1 - Math.pow(beta2, step.step());
        for (int i = 0; i < w.length; i++) {
            double gi = g[i] * clip;
            m[i] = (float) (beta1 * m[i] + (1 - beta1) * gi);
            v[i] = (float) (beta2 * v[i] + (1 - beta2) * gi * gi);
            double update = (m[i] / correction1) / (Math.sqrt(v[i] / correction2) + step.eps()) + step.weightDecay() * w[i];
            w[i] = (float) (w[i] - step.learningRate() * update);
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
