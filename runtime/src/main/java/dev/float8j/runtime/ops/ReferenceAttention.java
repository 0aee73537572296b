package dev.float8j.runtime.ops;

import dev.float8j.runtime.Tensor;

/**
 * Causal grouped-query attention, one query row at a time, in double: the scalar oracle of
 * {@link ModelOps#attention} and {@link ModelOps#attentionBackward}. Each row's scores live in a temporary of
 * seq doubles; backward recomputes them and turns them into probabilities with the saved log-sum-exp, so no
 * seq x seq matrix is ever kept.
 */
final class ReferenceAttention {
    private final AttentionShape shape;
    private final int headDim;
    private final int group;
    private final int qStride;
    private final int kvStride;
    private final double scale;

    ReferenceAttention(AttentionShape shape) {
        this.shape = shape;
        this.headDim = shape.headDim();
        this.group = shape.heads() / shape.kvHeads();
        this.qStride = shape.heads() * headDim;
        this.kvStride = shape.kvHeads() * headDim;
        this.scale = 1 / Math.sqrt(headDim);
    }

    AttentionResult forward(Tensor qt, Tensor kt, Tensor vt) {
        float[] q = HostTensors.read("attention", qt);
        float[] k = HostTensors.read("attention", kt);
        float[] v = HostTensors.read("attention", vt);
        int seq = shape.seq();
        double[] out = new double[q.length];
        float[] logSumExp = new float[shape.batch() * shape.heads() * seq];
        double[] scores = new double[seq];
        for (int b = 0; b < shape.batch(); b++) {
            for (int h = 0; h < shape.heads(); h++) {
                int kvHead = h / group;
                for (int s = 0; s < seq; s++) {
                    int qBase = (b * seq + s) * qStride + h * headDim;
                    double lse = scores(q, qBase, k, b, kvHead, s, scores);
                    logSumExp[(b * shape.heads() + h) * seq + s] = (float) lse;
                    for (int t = 0; t <= s; t++) {
                        double p = Math.exp(scores[t] - lse);
                        int vBase = (b * seq + t) * kvStride + kvHead * headDim;
                        for (int d = 0; d < headDim; d++) {
                            out[qBase + d] += p * v[vBase + d];
                        }
                    }
                }
            }
        }
        return new AttentionResult(HostTensors.result(out, qt.dtype(), qt.shape()),
                Tensor.of(logSumExp, shape.batch() * shape.heads(), seq));
    }

    AttentionGrads backward(Tensor dOutT, Tensor qt, Tensor kt, Tensor vt, AttentionResult forward) {
        String op = "attentionBackward";
        float[] dOut = HostTensors.read(op, dOutT);
        float[] q = HostTensors.read(op, qt);
        float[] k = HostTensors.read(op, kt);
        float[] v = HostTensors.read(op, vt);
        float[] out = HostTensors.read(op, forward.out());
        float[] logSumExp = HostTensors.read(op, forward.logSumExp());
        int seq = shape.seq();
        double[] dQ = new double[q.length];
        double[] dK = new double[k.length];
        double[] dV = new double[v.length];
        double[] scores = new double[seq];
        for (int b = 0; b < shape.batch(); b++) {
            for (int h = 0; h < shape.heads(); h++) {
                int kvHead = h / group;
                for (int s = 0; s < seq; s++) {
                    int qBase = (b * seq + s) * qStride + h * headDim;
                    scores(q, qBase, k, b, kvHead, s, scores);
                    double lse = logSumExp[(b * shape.heads() + h) * seq + s];
                    // dScore_t = p_t (dOut·v_t − dOut·out), since Σ_t p_t v_t = out
                    double rowDot = 0;
                    for (int d = 0; d < headDim; d++) {
                        rowDot += (double) dOut[qBase + d] * out[qBase + d];
                    }
                    for (int t = 0; t <= s; t++) {
                        double p = Math.exp(scores[t] - lse);
                        int kvBase = (b * seq + t) * kvStride + kvHead * headDim;
                        double dP = 0;
                        for (int d = 0; d < headDim; d++) {
                            dV[kvBase + d] += p * dOut[qBase + d];
                            dP += (double) dOut[qBase + d] * v[kvBase + d];
                        }
                        double dScore = p * (dP - rowDot) * scale;
                        for (int d = 0; d < headDim; d++) {
                            dQ[qBase + d] += dScore * k[kvBase + d];
                            dK[kvBase + d] += dScore * q[qBase + d];
                        }
                    }
                }
            }
        }
        return new AttentionGrads(HostTensors.result(dQ, qt.dtype(), qt.shape()),
                HostTensors.result(dK, kt.dtype(), kt.shape()), HostTensors.result(dV, vt.dtype(), vt.shape()));
    }

    /** The scaled scores of query row qBase against keys 0..s into scores; returns their log-sum-exp. */
    private double scores(float[] q, int qBase, float[] k, int b, int kvHead, int s, double[] scores) {
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t <= s; t++) {
            int kBase = (b * shape.seq() + t) * kvStride + kvHead * headDim;
            double dot = 0;
            for (int d = 0; d < headDim; d++) {
                dot += (double) q[qBase + d] * k[kBase + d];
            }
            scores[t] = dot * scale;
            max = Math.max(max, scores[t]);
        }
        double sum = 0;
        for (int t = 0; t <= s; t++) {
            sum += Math.exp(scores[t] - max);
        }
        return max + Math.log(sum);
    }
}
