package dev.float8j.runtime.cpu;

import static dev.float8j.runtime.cpu.FloatVectors.FLOATS;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.ops.AttentionGrads;
import dev.float8j.runtime.ops.AttentionResult;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.HostTensors;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Causal grouped-query attention in float32, flash style: each query row walks the keys in tiles of
 * {@link #KEY_TILE} with an online softmax (a running maximum and sum, the output rescaled when the maximum
 * grows), so no seq x seq matrix exists; forward saves each row's log-sum-exp and backward recomputes the
 * probabilities from it.
 *
 * <p>The keys (and, for backward, the values) of one kv head are first transposed to [headDim, seq], so a tile's
 * scores are vector FMAs across keys, with no horizontal sums. Forward runs (batch, head, query tile) items in
 * parallel, the longest tiles first; backward runs (batch, kv head) items, each owning its kv head's dK and dV and
 * its query heads' dQ, so no two threads add into one element.
 */
final class CpuAttention {
    /** Keys per tile of the online softmax: a multiple of every vector length, so tiles start on whole vectors. */
    static final int KEY_TILE = 64;
    /** Query rows per parallel forward item. */
    static final int QUERY_TILE = 32;
    private static final int LANES = FLOATS.length();

    private final CpuThreads threads;
    /** Values per work item when a result is rounded to BF16 (the model ops' grain). */
    private final int grain;

    CpuAttention(CpuThreads threads, int grain) {
        this.threads = threads;
        this.grain = grain;
    }

    /** The sizes and transposed keys of one call, shared by its rows. */
    private static final class Layout {
        final int seq;
        final int heads;
        final int kvHeads;
        final int headDim;
        final int group;
        final int qStride;
        final int kvStride;
        /** seq rounded up to whole vectors: the row length of a transposed [headDim, padded] block. */
        final int padded;
        final float scale;

        Layout(AttentionShape shape) {
            seq = shape.seq();
            heads = shape.heads();
            kvHeads = shape.kvHeads();
            headDim = shape.headDim();
            group = heads / kvHeads;
            qStride = heads * headDim;
            kvStride = kvHeads * headDim;
            padded = (seq + LANES - 1) / LANES * LANES;
            scale = (float) (1 / Math.sqrt(headDim));
        }

        /** x's rows of kv head kvHead in batch b, transposed to [headDim, padded] (zeros past seq). */
        float[] transposed(float[] x, int b, int kvHead) {
            float[] t = new float[headDim * padded];
            for (int s = 0; s < seq; s++) {
                int base = (b * seq + s) * kvStride + kvHead * headDim;
                for (int d = 0; d < headDim; d++) {
                    t[d * padded + s] = x[base + d];
                }
            }
            return t;
        }

        /**
         * The scaled scores of query row q[qBase..] against keys t0 .. t0+n-1 into scores[0..n), -inf from n up
         * to the next whole vector; returns their maximum.
         */
        float scores(float[] q, int qBase, float[] keysT, int t0, int n, float[] scores) {
            for (int c = 0; c < n; c += LANES) {
                FloatVector acc = FloatVector.zero(FLOATS);
                for (int d = 0; d < headDim; d++) {
                    acc = FloatVector.fromArray(FLOATS, keysT, d * padded + t0 + c).fma(FloatVector.broadcast(FLOATS, q[qBase + d]), acc);
                }
                acc.mul(scale).intoArray(scores, c);
            }
            int end = (n + LANES - 1) / LANES * LANES;
            Arrays.fill(scores, n, end, Float.NEGATIVE_INFINITY);
            FloatVector max = FloatVector.broadcast(FLOATS, Float.NEGATIVE_INFINITY);
            for (int c = 0; c < end; c += LANES) {
                max = max.max(FloatVector.fromArray(FLOATS, scores, c));
            }
            return max.reduceLanes(VectorOperators.MAX);
        }

        /** probabilities[j] = e^(scores[j] − shift) over the whole vectors that hold n scores; returns their sum. */
        static float exponentials(float[] scores, int n, float shift, float[] probabilities) {
            FloatVector sum = FloatVector.zero(FLOATS);
            for (int c = 0; c < n; c += LANES) {
                FloatVector p = FloatVectors.exp(FloatVector.fromArray(FLOATS, scores, c).sub(shift));
                p.intoArray(probabilities, c);
                sum = sum.add(p);
            }
            return FloatVectors.sumLanes(sum);
        }
    }

    AttentionResult forward(Tensor qt, Tensor kt, Tensor vt, AttentionShape shape) {
        float[] q = HostTensors.floats("attention", qt);
        float[] k = HostTensors.floats("attention", kt);
        float[] v = HostTensors.floats("attention", vt);
        Layout at = new Layout(shape);
        float[][] keysT = transposeAll(at, k, shape.batch());
        float[] out = new float[q.length];
        float[] logSumExp = new float[shape.batch() * at.heads * at.seq];
        int queryTiles = (at.seq + QUERY_TILE - 1) / QUERY_TILE;
        threads.forEachItem(shape.batch() * at.heads * queryTiles, item -> {
            int bh = item / queryTiles;
            int tile = queryTiles - 1 - item % queryTiles; // the last tiles see the most keys: start them first
            int b = bh / at.heads;
            int h = bh % at.heads;
            int kvHead = h / at.group;
            float[] kT = keysT[b * at.kvHeads + kvHead];
            float[] scores = new float[KEY_TILE];
            float[] probabilities = new float[KEY_TILE];
            float[] acc = new float[at.headDim];
            for (int s = tile * QUERY_TILE, end = Math.min(at.seq, s + QUERY_TILE); s < end; s++) {
                int qBase = (b * at.seq + s) * at.qStride + h * at.headDim;
                Arrays.fill(acc, 0f);
                float max = Float.NEGATIVE_INFINITY;
                float sum = 0;
                for (int t0 = 0; t0 <= s; t0 += KEY_TILE) {
                    int n = Math.min(KEY_TILE, s + 1 - t0);
                    float tileMax = at.scores(q, qBase, kT, t0, n, scores);
                    if (tileMax > max) { // rescale what the earlier tiles summed to the new maximum
                        float correction = FloatVectors.exp(max - tileMax);
                        sum *= correction;
                        FloatVectors.scale(acc, 0, at.headDim, correction);
                        max = tileMax;
                    }
                    sum += Layout.exponentials(scores, n, max, probabilities);
                    for (int j = 0; j < n; j++) {
                        int vBase = (b * at.seq + t0 + j) * at.kvStride + kvHead * at.headDim;
                        FloatVectors.axpy(probabilities[j], v, vBase, acc, 0, at.headDim);
                    }
                }
                float inverse = 1 / sum;
                for (int d = 0; d < at.headDim; d++) {
                    out[qBase + d] = acc[d] * inverse;
                }
                logSumExp[bh * at.seq + s] = max + (float) Math.log(sum);
            }
        });
        return new AttentionResult(Bf16Rounding.result(out, qt.dtype(), threads, grain, qt.shape()),
                Tensor.of(logSumExp, shape.batch() * at.heads, at.seq));
    }

    AttentionGrads backward(Tensor dOutT, Tensor qt, Tensor kt, Tensor vt, AttentionResult forward,
            AttentionShape shape) {
        String op = "attentionBackward";
        float[] dOut = HostTensors.floats(op, dOutT);
        float[] q = HostTensors.floats(op, qt);
        float[] k = HostTensors.floats(op, kt);
        float[] v = HostTensors.floats(op, vt);
        float[] out = HostTensors.floats(op, forward.out());
        float[] logSumExp = HostTensors.floats(op, forward.logSumExp());
        Layout at = new Layout(shape);
        float[] dQ = new float[q.length];
        float[] dK = new float[k.length];
        float[] dV = new float[v.length];
        threads.forEachItem(shape.batch() * at.kvHeads, item -> {
            int b = item / at.kvHeads;
            int kvHead = item % at.kvHeads;
            float[] kT = at.transposed(k, b, kvHead);
            float[] vT = at.transposed(v, b, kvHead);
            float[] scores = new float[KEY_TILE];
            float[] probabilities = new float[KEY_TILE];
            float[] dScores = new float[KEY_TILE];
            for (int h = kvHead * at.group; h < (kvHead + 1) * at.group; h++) {
                for (int s = 0; s < at.seq; s++) {
                    int qBase = (b * at.seq + s) * at.qStride + h * at.headDim;
                    float lse = logSumExp[(b * at.heads + h) * at.seq + s];
                    // dScore_t = p_t (dOut·v_t − dOut·out) · scale, since Σ_t p_t v_t = out
                    float rowDot = FloatVectors.dot(dOut, qBase, out, qBase, at.headDim);
                    for (int t0 = 0; t0 <= s; t0 += KEY_TILE) {
                        int n = Math.min(KEY_TILE, s + 1 - t0);
                        at.scores(q, qBase, kT, t0, n, scores);
                        Layout.exponentials(scores, n, lse, probabilities);
                        for (int c = 0; c < n; c += LANES) {
                            FloatVector dP = FloatVector.zero(FLOATS);
                            for (int d = 0; d < at.headDim; d++) {
                                dP = FloatVector.fromArray(FLOATS, vT, d * at.padded + t0 + c)
                                        .fma(FloatVector.broadcast(FLOATS, dOut[qBase + d]), dP);
                            }
                            FloatVector.fromArray(FLOATS, probabilities, c).mul(dP.sub(rowDot)).mul(at.scale)
                                    .intoArray(dScores, c);
                        }
                        for (int j = 0; j < n; j++) {
                            int kvBase = (b * at.seq + t0 + j) * at.kvStride + kvHead * at.headDim;
                            FloatVectors.axpy(probabilities[j], dOut, qBase, dV, kvBase, at.headDim);
                            FloatVectors.axpy(dScores[j], k, kvBase, dQ, qBase, at.headDim);
                            FloatVectors.axpy(dScores[j], q, qBase, dK, kvBase, at.headDim);
                        }
                    }
                }
            }
        });
        return new AttentionGrads(Bf16Rounding.result(dQ, qt.dtype(), threads, grain, qt.shape()),
                Bf16Rounding.result(dK, kt.dtype(), threads, grain, kt.shape()),
                Bf16Rounding.result(dV, vt.dtype(), threads, grain, vt.shape()));
    }

    /** The transposed keys of every (batch, kv head), made in parallel. */
    private float[][] transposeAll(Layout at, float[] k, int batch) {
        float[][] keysT = new float[batch * at.kvHeads][];
        threads.forEachItem(keysT.length, item -> keysT[item] = at.transposed(k, item / at.kvHeads, item % at.kvHeads));
        return keysT;
    }
}
