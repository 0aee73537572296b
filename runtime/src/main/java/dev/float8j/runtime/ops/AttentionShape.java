package dev.float8j.runtime.ops;

/** The sizes of one attention call: kvHeads divides heads (grouped-query attention); headDim is even. */
public record AttentionShape(int batch, int seq, int heads, int kvHeads, int headDim) {

    /** Checks the sizes. */
    public AttentionShape {
        if (batch <= 0 || seq <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads % kvHeads != 0
                || headDim % 2 != 0) {
            throw new IllegalArgumentException("attention needs positive sizes, kvHeads dividing heads and an even"
                    + " headDim; got batch=" + batch + " seq=" + seq + " heads=" + heads + " kvHeads=" + kvHeads
                    + " headDim=" + headDim);
        }
    }

    /** batch · seq. */
    public int tokens() {
        return batch * seq;
    }
}
