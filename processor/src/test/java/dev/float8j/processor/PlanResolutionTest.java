package dev.float8j.processor;

import static com.google.testing.compile.CompilationSubject.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.testing.compile.Compilation;
import com.google.testing.compile.JavaFileObjects;
import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Granularity;
import dev.float8j.annotations.Recipe;
import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Float8Recipes;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import javax.tools.JavaFileObject;
import org.junit.jupiter.api.Test;

/**
 * Every recipe (and every layer granularity without one), with every backward policy and each kind of override,
 * resolved both ways: by the processor from {@code @Float8} into the generated class's PLAN, and by the runtime's
 * plan factories with the override applied by hand. The two plans must be equal.
 */
class PlanResolutionTest {

    /** An override as annotation text and as the change it makes to a plan. */
    record Change(String name, String annotation, UnaryOperator<Float8Plan> apply) {
    }

    static final Change NONE = new Change("Plain", "", p -> p);
    static final Change E5M2_GRADIENTS = new Change("E5M2Gradients",
            ", gradInput = @GemmConfig(gradOutput = @OperandConfig(format = Format.E5M2))",
            p -> p.with(new GemmPlan(Gemm.GRAD_INPUT, withFormat(p.gradInput().first(), Fp8Format.E5M2),
                    p.gradInput().second())));
    static final Change GRAD_WEIGHT_HIGH_PRECISION = new Change("GradWeightHp",
            ", gradWeight = @GemmConfig(highPrecision = true)", p -> p.with(GemmPlan.highPrecision(Gemm.GRAD_WEIGHT)));
    static final Change FAST_ACCUMULATION = new Change("FastAccumulation",
            ", output = @GemmConfig(fastAccumulation = true), gradInput = @GemmConfig(fastAccumulation = true)",
            p -> p.withFastAccumulation(Gemm.OUTPUT, Gemm.GRAD_INPUT));
    /** Only without a recipe (a recipe fixes every granularity) and not with MX (its partners must be MX). */
    static final Change TENSORWISE_WEIGHT = new Change("TensorwiseWeight",
            ", output = @GemmConfig(weight = @OperandConfig(granularity = OperandGranularity.TENSORWISE))",
            p -> p.with(new GemmPlan(Gemm.OUTPUT, p.output().first(), new QuantSpec(p.output().second().format(),
                    ScalingGranularity.TENSORWISE, 1, p.output().second().powerOfTwoScales()))));

    static QuantSpec withFormat(QuantSpec s, Fp8Format format) {
        return new QuantSpec(format, s.granularity(), s.axis(), s.powerOfTwoScales());
    }

    /** The runtime's plan for a recipe: its named factory. */
    static Float8Plan factory(Recipe recipe) {
        return switch (recipe) {
            case TENSORWISE -> Float8Plan.tensorwise();
            case ROWWISE -> Float8Plan.rowwise();
            case ROWWISE_GW_HP -> Float8Plan.rowwiseGradWeightHighPrecision();
            case BLOCKWISE -> Float8Plan.blockwise();
            case MX -> Float8Plan.mx();
            case NONE -> throw new IllegalArgumentException("no factory for NONE");
        };
    }

    /** The runtime's plan for a granularity with no recipe: the factory of the recipe of that granularity. */
    static Float8Plan factory(Granularity granularity) {
        return factory(Recipe.valueOf(granularity.name()));
    }

    @Test
    void theProcessorAndTheRuntimeResolveEveryRecipeAlike() throws ReflectiveOperationException {
        Map<String, Float8Plan> expected = new LinkedHashMap<>();
        List<JavaFileObject> sources = new ArrayList<>();
        for (Backward backward : Backward.values()) {
            for (Recipe recipe : Recipe.values()) {
                if (recipe == Recipe.NONE) {
                    continue;
                }
                for (Change o : List.of(NONE, E5M2_GRADIENTS, GRAD_WEIGHT_HIGH_PRECISION, FAST_ACCUMULATION)) {
                    String name = "Recipe" + recipe + backward + o.name();
                    sources.add(source(name, "recipe = Recipe." + recipe + ", backward = Backward." + backward + o.annotation()));
                    expected.put(name, o.apply().apply(factory(recipe).withBackward(backward)));
                }
            }
            for (Granularity granularity : Granularity.values()) {
                List<Change> overrides = new ArrayList<>(List.of(NONE, E5M2_GRADIENTS, GRAD_WEIGHT_HIGH_PRECISION,
                        FAST_ACCUMULATION));
                if (granularity != Granularity.MX) {
                    overrides.add(TENSORWISE_WEIGHT);
                }
                for (Change o : overrides) {
                    String name = "Granularity" + granularity + backward + o.name();
                    sources.add(source(name, "granularity = Granularity." + granularity + ", backward = Backward." + backward
                            + o.annotation()));
                    expected.put(name, o.apply().apply(factory(granularity).withBackward(backward)));
                }
            }
        }
        Compilation compilation = Compiled.compile(sources.toArray(JavaFileObject[]::new));
        assertThat(compilation).succeeded();
        ClassLoader loader = Compiled.loader(compilation);
        for (Map.Entry<String, Float8Plan> e : expected.entrySet()) {
            Float8Plan generated = (Float8Plan) loader.loadClass("resolve." + e.getKey() + "Float8").getField("PLAN").get(null);
            assertEquals(e.getValue(), generated, e.getKey());
            assertEquals(e.getValue().savedInput(), generated.savedInput(), e.getKey());
        }
    }

    @Test
    void delayedScalingResolvesAsTheRuntimesPlans() throws ReflectiveOperationException {
        Map<String, Float8Plan> expected = new LinkedHashMap<>();
        expected.put("recipe = Recipe.TENSORWISE, amaxHistory = 16", Float8Recipes.named("tensorwise_delayed"));
        expected.put("granularity = Granularity.TENSORWISE, amaxHistory = 4, amaxReduction = AmaxReduction.MOST_RECENT",
                Float8Plan.tensorwise().withDelayedScaling(new DelayedScaling(4, DelayedScaling.AmaxReduction.MOST_RECENT)));
        // an operand's own history overrides the layer's; 0 keeps current scaling there
        Float8Plan delayed = Float8Recipes.named("tensorwise_delayed");
        expected.put("recipe = Recipe.TENSORWISE, amaxHistory = 16, "
                + "gradWeight = @GemmConfig(gradOutput = @OperandConfig(amaxHistory = 0), input = @OperandConfig(amaxHistory = 1024))",
                delayed.with(new GemmPlan(Gemm.GRAD_WEIGHT, delayed.gradWeight().first().withDelayedScaling(null),
                        delayed.gradWeight().second().withDelayedScaling(DelayedScaling.maxOfLast(1024)))));
        // the layer's history reaches its TENSORWISE operands only; a rowwise layer's tensorwise weight takes its own
        Float8Plan rowwise = Float8Plan.rowwise();
        expected.put("granularity = Granularity.ROWWISE, output = @GemmConfig(weight = "
                + "@OperandConfig(granularity = OperandGranularity.TENSORWISE, amaxHistory = 8))",
                rowwise.with(new GemmPlan(Gemm.OUTPUT, rowwise.output().first(), new QuantSpec(Fp8Format.E4M3FN,
                        ScalingGranularity.TENSORWISE, 1, false, DelayedScaling.maxOfLast(8)))));
        List<JavaFileObject> sources = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (String attributes : expected.keySet()) {
            names.add("Delayed" + names.size());
            sources.add(source(names.getLast(), attributes));
        }
        Compilation compilation = Compiled.compile(sources.toArray(JavaFileObject[]::new));
        assertThat(compilation).succeededWithoutWarnings();
        ClassLoader loader = Compiled.loader(compilation);
        int i = 0;
        for (Map.Entry<String, Float8Plan> e : expected.entrySet()) {
            Float8Plan generated = (Float8Plan) loader.loadClass("resolve." + names.get(i++) + "Float8").getField("PLAN")
                    .get(null);
            assertEquals(e.getValue(), generated, e.getKey());
        }
    }

    static JavaFileObject source(String name, String attributes) {
        return JavaFileObjects.forSourceString("resolve." + name, """
                package resolve;

                import dev.float8j.annotations.*;
                import dev.float8j.runtime.nn.Linear;

                @Float8(%s)
                public class %s extends Linear {
                    public %s(int in, int out) {
                        super(in, out);
                    }
                }
                """.formatted(attributes, name, name));
    }
}
