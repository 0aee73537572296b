package dev.float8j.runtime.quant;

import dev.float8j.plan.DelayedScaling;

/**
 * The amaxes of one operand's last casts under {@link DelayedScaling}, kept where the casts that read them run: on the
 * host ({@link HostAmaxHistory}) or on a GPU (the CUDA backend's). A backend makes it
 * ({@code Backend.newAmaxHistory}) and casts with it ({@code Backend.quantizeDelayed}). Each such cast leaves the
 * amax it read pending; {@link #commit} records it once the call that made the cast has succeeded, so a call that
 * fails leaves the history as it was.
 */
public interface AmaxHistory {

    DelayedScaling scaling();

    /** True before the first amax is recorded: the first cast scales from its own amax. */
    boolean isEmpty();

    /**
     * Records the amax of the last delayed cast made with this history, dropping the oldest once the history is full.
     *
     * @throws IllegalStateException if no cast has left an amax pending since the last commit
     */
    void commit();
}
