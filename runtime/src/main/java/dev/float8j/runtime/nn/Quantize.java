package dev.float8j.runtime.nn;

import dev.float8j.plan.QuantSpec;
import dev.float8j.runtime.Float8Tensor;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.debug.Float8Debug;
import dev.float8j.runtime.debug.QuantizationObserver;
import dev.float8j.runtime.debug.Site;
import dev.float8j.runtime.quant.AmaxHistory;
import dev.float8j.runtime.quant.NonFiniteException;
import java.util.function.Supplier;

/**
 * Quantization as layers call it: on a backend, at a named site, seen by the debug observer if one
 * selects that site, with a NaN or Inf reported by the site's name.
 */
public final class Quantize {
    private Quantize() {
    }

    /** x quantized by backend as spec says; observers see it under site. */
    public static Float8Tensor quantize(Backend backend, Tensor x, QuantSpec spec, Site site) {
        return observedCast(backend, x, site, () -> backend.quantize(x, spec));
    }

    /**
     * x quantized under a delayed-scaling spec with the scale history gives, reading x once (see
     * {@link Backend#quantizeDelayed}); the amax it reads is left pending in history, which the caller commits once
     * its call has succeeded. Observers see it under site.
     */
    public static Float8Tensor quantizeDelayed(Backend backend, Tensor x, QuantSpec spec, Site site,
            AmaxHistory history) {
        return observedCast(backend, x, site, () -> backend.quantizeDelayed(x, spec, history));
    }

    /**
     * x quantized along both axes with delayed scaling from one history (see {@link Backend#quantizeBothAxesDelayed});
     * element 0 is along axis 1 (site alongColumns), element 1 along axis 0.
     */
    public static Float8Tensor[] quantizeBothAxesDelayed(Backend backend, Tensor x, QuantSpec alongColumns,
            Site columnsSite, QuantSpec alongRows, Site rowsSite, AmaxHistory history) {
        return observedCasts(backend, x, columnsSite, rowsSite,
                () -> backend.quantizeBothAxesDelayed(x, alongColumns, alongRows, history));
    }

    /** Requantizes an FP8 tensor under spec (see {@link Backend#requantize}); observers see its dequantized input. */
    public static Float8Tensor requantize(Backend backend, Float8Tensor q, QuantSpec spec, Site site) {
        Float8Tensor r = backend.requantize(q, spec);
        QuantizationObserver o = Float8Debug.observer();
        if (o != null && o.wants(site, Float8Debug.step())) {
            o.observe(site, Float8Debug.step(), backend.toHost(backend.dequantize(q)), backend.toHost(r), backend);
        }
        return r;
    }

    /** Quantizes along both axes in one pass; element 0 is along axis 1 (site alongColumns), element 1 along axis 0. */
    public static Float8Tensor[] quantizeBothAxes(Backend backend, Tensor x, QuantSpec alongColumns, Site columnsSite,
            QuantSpec alongRows, Site rowsSite) {
        return observedCasts(backend, x, columnsSite, rowsSite,
                () -> backend.quantizeBothAxes(x, alongColumns, alongRows));
    }

    /** The cast of x at site: a NaN or Inf reported by the site's name, the result shown to its observer. */
    private static Float8Tensor observedCast(Backend backend, Tensor x, Site site, Supplier<Float8Tensor> cast) {
        Float8Tensor q;
        try {
            q = cast.get();
        } catch (NonFiniteException e) {
            throw named(e, site);
        }
        notifyObserver(site, x, q, backend);
        return q;
    }

    /** As {@link #observedCast} for a cast along both axes: element 0 at columnsSite, element 1 at rowsSite. */
    private static Float8Tensor[] observedCasts(Backend backend, Tensor x, Site columnsSite, Site rowsSite,
            Supplier<Float8Tensor[]> casts) {
        Float8Tensor[] both;
        try {
            both = casts.get();
        } catch (NonFiniteException e) {
            throw named(e, columnsSite);
        }
        notifyObserver(columnsSite, x, both[0], backend);
        notifyObserver(rowsSite, x, both[1], backend);
        return both;
    }

    /** True when a debug observer wants to see the quantization at site in the current step. */
    public static boolean observed(Site site) {
        QuantizationObserver o = Float8Debug.observer();
        return o != null && o.wants(site, Float8Debug.step());
    }

    private static void notifyObserver(Site site, Tensor x, Float8Tensor q, Backend backend) {
        QuantizationObserver o = Float8Debug.observer();
        if (o != null && o.wants(site, Float8Debug.step())) {
            // observers read elements: device tensors are copied to the host, only for the sites observed
            o.observe(site, Float8Debug.step(), backend.toHost(x), backend.toHost(q), backend);
        }
    }

    private static NonFiniteException named(NonFiniteException e, Site site) {
        NonFiniteException n = new NonFiniteException("the " + site.operand().name().toLowerCase() + " of "
                + site.gemm().name().toLowerCase() + " in module '" + site.module() + "'", e.row(), e.col(), e.value());
        n.initCause(e);
        return n;
    }
}
