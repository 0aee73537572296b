package dev.float8j.runtime;

/**
 * One tensor's hold on the {@link SharedStorage} it reads: whether this view has been released. Each view
 * (a tensor, a reshape of it, an other-axis view) has its own; release is not meant to race with use.
 */
public final class StorageView {
    private final SharedStorage storage;
    private boolean released;

    /** A view that holds storage until it is released. */
    public StorageView(SharedStorage storage) {
        this.storage = storage;
    }

    /** The hold of one more view of the same storage. */
    public StorageView share() {
        return new StorageView(storage.share());
    }

    /** Throws unless this view is live; view and contents only word the message. */
    public void requireLive(Object view, String contents) {
        if (released) {
            throw new IllegalStateException(view + " has been released (backend.release): its " + contents
                    + " may already belong to another tensor");
        }
    }

    /**
     * Marks this view released; true when it was the storage's last live view and the arrays may be reused.
     *
     * @throws IllegalStateException if it was released already (reusing its arrays twice would corrupt data)
     */
    public boolean release(Object view, String contents) {
        requireLive(view, contents);
        released = true;
        return storage.release();
    }

    /** True once this view was released. */
    public boolean isReleased() {
        return released;
    }
}
