package dev.float8j.runtime.nn.transformer;

/**
 * The sizes of a Llama-style decoder.
 *
 * @param dim width of the residual stream
 * @param layers decoder blocks
 * @param heads query heads; dim / heads is the head dimension, which must be even (rotary pairs)
 * @param kvHeads key and value heads, dividing heads (grouped-query attention; heads for plain multi-head)
 * @param ffn hidden width of each SwiGLU feed-forward
 * @param vocabulary token ids are in [0, vocabulary)
 * @param seq the longest sequence (positions the model is trained on)
 * @param ropeTheta base of the rotary frequencies (10,000 in Llama 2, 500,000 in Llama 3)
 * @param normEps eps of every RMSNorm
 */
public record LlamaConfig(int dim, int layers, int heads, int kvHeads, int ffn, int vocabulary, int seq, float ropeTheta,
        float normEps) {

    public LlamaConfig {
        if (dim <= 0 || layers < 0 || heads <= 0 || kvHeads <= 0 || ffn <= 0 || vocabulary <= 1 || seq <= 0) {
            throw new IllegalArgumentException("a Llama config needs positive sizes (layers >= 0, vocabulary >= 2): " + this);
        }
        if (dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw new IllegalArgumentException("dim " + dim + " must split into " + heads + " heads of an even size");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("kvHeads " + kvHeads + " must divide heads " + heads);
        }
        if (!(ropeTheta > 1) || !(normEps > 0)) {
            throw new IllegalArgumentException("ropeTheta must be above 1 and normEps positive: " + this);
        }
    }

    /** Llama's usual rotary base and norm eps with the given sizes. */
    public static LlamaConfig of(int dim, int layers, int heads, int kvHeads, int ffn, int vocabulary, int seq) {
        return new LlamaConfig(dim, layers, heads, kvHeads, ffn, vocabulary, seq, 10_000f, 1e-5f);
    }

    public int headDim() {
        return dim / heads;
    }

    /** Width of the key and value projections: kvHeads · headDim. */
    public int kvDim() {
        return kvHeads * headDim();
    }
}
