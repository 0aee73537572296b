package dev.float8j.runtime.nn;

import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backends.Backends;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;

/**
 * Converts an existing model to FP8 training in one call, as torchao's {@code convert_to_float8_training}
 * does: every high-precision {@link Linear} of the module tree that the filter accepts is replaced by a
 * {@link Float8Linear} with the plan, under the same name, holding the same weight and gradient tensors (and bias,
 * which stays in F32).
 *
 * <pre>{@code
 * Float8Training.convert(model, "rowwise");                                   // default filter
 * Float8Training.convert(model, Float8Plan.tensorwise(), (name, linear) -> !name.equals("head"));
 * }</pre>
 *
 * <p>Only layers of class {@code Linear} itself are converted: FP8 layers and other subclasses keep their class
 * and are listed as skipped with the reason. The replaced layer's weight {@link Parameter} and the new one share
 * their tensors, so an optimizer created before the conversion keeps updating the weights the model uses
 * (its state, keyed by parameter name, stays valid). Parents learn of the change through
 * {@link Module#replaceChild}; a parent that cannot take it (a final field holding the layer) makes the whole
 * call fail before anything is replaced. Convert between steps: a layer with a forward pending its backward is
 * refused.
 */
public final class Float8Training {

    /** What a conversion did: the converted layers' names and, for every other Linear, why it was skipped. */
    public record Conversion(List<String> converted, Map<String, String> skipped) {
        /** Copies both, keeping their order. */
        public Conversion {
            converted = List.copyOf(converted);
            skipped = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(skipped));
        }
    }

    private Float8Training() {
    }

    /** Converts with a named recipe (see {@link Float8Recipes}) and the {@link #defaultFilter()}. */
    public static Conversion convert(Module model, String recipe) {
        return convert(model, Float8Recipes.named(recipe), defaultFilter());
    }

    /** Converts with a named recipe (see {@link Float8Recipes}) and a filter on (fully qualified name, layer). */
    public static Conversion convert(Module model, String recipe, BiPredicate<String, Linear> filter) {
        return convert(model, Float8Recipes.named(recipe), filter);
    }

    /** Converts with a plan and the {@link #defaultFilter()}. */
    public static Conversion convert(Module model, Float8Plan plan) {
        return convert(model, plan, defaultFilter());
    }

    /**
     * Replaces every high-precision Linear below model that filter accepts (given its fully qualified name and the
     * layer) by a Float8Linear with plan. Either every chosen layer is replaced or, on an error, none is.
     *
     * @throws IllegalArgumentException when model itself is a Linear (it has no parent to hold a replacement)
     * @throws IllegalStateException when a chosen layer has a pending backward or its parent refuses the replacement
     */
    public static Conversion convert(Module model, Float8Plan plan, BiPredicate<String, Linear> filter) {
        if (model == null || plan == null || filter == null) {
            throw new IllegalArgumentException("convert needs a model, a plan and a filter, got " + model + ", " + plan
                    + ", " + filter);
        }
        if (model instanceof Linear) {
            throw new IllegalArgumentException(model + " is itself a Linear: convert the module that holds it, or make a "
                    + "Float8Linear directly");
        }
        List<Linear> chosen = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        for (Module m : model.modules()) {
            if (!(m instanceof Linear linear)) {
                continue;
            }
            String name = relativeName(model, linear);
            if (linear.getClass() != Linear.class) {
                skipped.put(name, linear instanceof Float8Linear || !linear.float8Plan().equals("high precision")
                        ? "already FP8 (" + linear.getClass().getSimpleName() + ")"
                        : "a subclass of Linear (" + linear.getClass().getName() + ") keeps its class");
            } else if (!filter.test(name, linear)) {
                skipped.put(name, filter instanceof SizeFilter sizes ? sizes.reason(linear) : "rejected by the filter");
            } else if (linear.savedBytes() > 0) {
                throw new IllegalStateException("cannot convert " + name + ": it holds a forward pending its backward;"
                        + " convert between training steps");
            } else {
                chosen.add(linear);
                names.add(name);
            }
        }
        List<Linear[]> done = new ArrayList<>();
        try {
            for (Linear old : chosen) {
                Float8Linear fp8 = Init.withoutDrawing(
                        () -> new Float8Linear(old.inFeatures(), old.outFeatures(), plan, old.hasBias()));
                fp8.weight().shareTensorsOf(old.weight());
                if (old.hasBias()) {
                    fp8.bias().shareTensorsOf(old.bias());
                }
                old.parent().replaceChild(localName(old), fp8);
                done.add(new Linear[] {old, fp8});
            }
        } catch (RuntimeException e) {
            for (int i = done.size() - 1; i >= 0; i--) {
                Linear old = done.get(i)[0];
                Linear fp8 = done.get(i)[1];
                fp8.parent().replaceChild(localName(fp8), old);
            }
            throw e;
        }
        return new Conversion(names, skipped);
    }

    /**
     * The filter that {@link #convert(Module, String)} uses: for the {@link Backends#current() current} backend,
     * it skips layers whose FP8 forward and backward measured slower than high precision (by K = inFeatures and
     * N = outFeatures; see {@link #sizeFilter(Backend)}).
     */
    public static BiPredicate<String, Linear> defaultFilter() {
        return sizeFilter(Backends.current());
    }

    /**
     * The size filter of a backend: a layer is converted when K and N are both at least the backend's measured
     * threshold and, on CUDA, multiples of 16 (cuBLASLt's FP8 gemms need them; the host API would pad).
     *
     * <p>CPU backend: FP8 is emulated there and is never faster than F32; the threshold is where one FP8
     * forward+backward (rowwise) costs at most 1.3x the F32 one, from the measurement in docs/conversion.md
     * ({@code benchmarks ConversionThreshold}). CUDA: from K = N = 4096, where one FP8 forward+backward measured
     * 0.79x (tensorwise) and 0.84x (rowwise) the BF16 one on an H100 at M = 8192; at 2048 it was 1.01x and 1.12x.
     * The reference backend is a numerical oracle with no speed to gain: every layer is converted.
     */
    public static BiPredicate<String, Linear> sizeFilter(Backend backend) {
        String name = backend.name();
        if (name.startsWith("cpu")) {
            return new SizeFilter(CPU_MIN_FEATURES, 1, backend.name());
        }
        if (name.startsWith("cuda")) {
            return new SizeFilter(CUDA_MIN_FEATURES, 16, backend.name());
        }
        return new SizeFilter(1, 1, backend.name());
    }

    /** The smallest K and N at which the CPU backend's FP8 layer costs at most 1.3x F32 (docs/conversion.md). */
    static final int CPU_MIN_FEATURES = 512;

    /** The smallest K and N at which the CUDA backend's FP8 layer beats its BF16 one (docs/conversion.md). */
    static final int CUDA_MIN_FEATURES = 4096;

    /** Converts a layer when K and N reach min and are multiples of multiple. */
    private record SizeFilter(int min, int multiple, String backend) implements BiPredicate<String, Linear> {
        @Override
        public boolean test(String name, Linear layer) {
            return fits(layer.inFeatures()) && fits(layer.outFeatures());
        }

        private boolean fits(int features) {
            return features >= min && features % multiple == 0;
        }

        String reason(Linear layer) {
            return "K=" + layer.inFeatures() + ", N=" + layer.outFeatures() + ": on " + backend + " FP8 pays from K, N >= "
                    + min + (multiple > 1 ? " in multiples of " + multiple : "") + " (docs/conversion.md)";
        }
    }

    private static String relativeName(Module root, Module m) {
        String rootName = root.name();
        String name = m.name();
        return rootName.isEmpty() ? name : name.substring(rootName.length() + 1);
    }

    private static String localName(Module m) {
        String name = m.name();
        return name.substring(name.lastIndexOf('.') + 1);
    }
}
