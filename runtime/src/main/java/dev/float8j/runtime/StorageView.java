package dev.float8j.runtime;

/**
 * One tensor's hold on the {@link SharedStorage} it reads: whether this view has been released. Each view
 * (a tensor, a reshape of it, an other-axis view) has its own; release is not meant to race with use.
 */
final class StorageView {
    private final SharedStorage storage;
    private boolean released;

    StorageView(SharedStorage storage) {
        this.storage = storage;
    }

    /** The hold of one more view of the same storage. */
    StorageView share() {
        return new StorageView(storage.share());
    }

    /**
     * A new view that takes over this one's hold (the storage's count of live views is unchanged); this view is
     * released. view and contents word the message if this view is released already.
     */
    StorageView handOver(Object view, String contents) {
        requireLive(view, contents);
        released = true;
        return new StorageView(storage);
    }

    /** Throws unless this view is live; view and contents only word the message. */
    void requireLive(Object view, String contents) {
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
    boolean release(Object view, String contents) {
        requireLive(view, contents);
        released = true;
        return storage.release();
    }

    boolean isReleased() {
        return released;
    }
}
