package dev.float8j.runtime.ops;

/**
 * Token ids of one batch, batch-major ({@code ids[b * seq + s]}), as {@link ModelOps} takes them. The host copy is
 * always kept (for checks and error messages); a device backend adds its own copy.
 *
 * @param hostIds the ids on the host (not copied: the caller must not change them while the batch is in use)
 * @param device the backend's copy, or null for host backends
 */
public record TokenIds(int[] hostIds, int batch, int seq, Object device) {

    /** Checks that the ids make batch rows of seq. */
    public TokenIds {
        if (batch <= 0 || seq <= 0 || (long) batch * seq != hostIds.length) {
            throw new IllegalArgumentException("token ids: " + hostIds.length + " ids do not make a batch of " + batch
                    + " x " + seq);
        }
    }

    /** batch · seq. */
    public int count() {
        return hostIds.length;
    }
}
