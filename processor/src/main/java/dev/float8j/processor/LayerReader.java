package dev.float8j.processor;

import com.palantir.javapoet.ClassName;
import dev.float8j.annotations.Backward;
import dev.float8j.annotations.Format;
import dev.float8j.annotations.Granularity;
import dev.float8j.annotations.OperandGranularity;
import dev.float8j.annotations.Recipe;
import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.Recipes;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.processor.LayerModel.GemmKind;
import dev.float8j.processor.LayerModel.GemmModel;
import dev.float8j.processor.LayerModel.OperandModel;
import dev.float8j.processor.LayerModel.Role;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.annotation.processing.Messager;
import javax.annotation.processing.ProcessingEnvironment;
import javax.lang.model.element.AnnotationMirror;
import javax.lang.model.element.AnnotationValue;
import javax.lang.model.element.Element;
import javax.lang.model.element.ElementKind;
import javax.lang.model.element.ExecutableElement;
import javax.lang.model.element.Modifier;
import javax.lang.model.element.NestingKind;
import javax.lang.model.element.TypeElement;
import javax.lang.model.element.VariableElement;
import javax.lang.model.type.TypeKind;
import javax.lang.model.util.ElementFilter;
import javax.lang.model.util.Elements;
import javax.lang.model.util.Types;

/**
 * Reads one {@code @Float8} class into a {@link LayerModel}, reporting every problem on the element and the
 * annotation value that caused it. Returns no model if anything was an error.
 */
final class LayerReader {
    static final String FLOAT8 = "dev.float8j.annotations.Float8";
    static final String LINEAR = "dev.float8j.runtime.nn.Linear";
    private static final String TENSOR = "dev.float8j.runtime.Tensor";
    private static final String SHARED_INPUT = "dev.float8j.runtime.nn.SharedInput";

    private final Elements elements;
    private final Types types;
    private final Messager messager;
    private TypeElement type;
    private boolean failed;
    /** The layer being read's amaxHistory and amaxReduction, and whether some operand took an amax history. */
    private int layerHistory;
    private DelayedScaling.AmaxReduction reduction;
    private boolean anyDelayed;

    LayerReader(ProcessingEnvironment env) {
        this.elements = env.getElementUtils();
        this.types = env.getTypeUtils();
        this.messager = env.getMessager();
    }

    /**
     * False while the class or its annotation still refer to types javac has not resolved (its superclass may be
     * generated later in this build, or the code has an error javac will report itself): read it in a later round.
     */
    boolean resolved(Element element) {
        if (element instanceof TypeElement t && t.getSuperclass().getKind() == TypeKind.ERROR) {
            return false;
        }
        return resolved(mirror(element, FLOAT8));
    }

    private boolean resolved(AnnotationMirror mirror) {
        if (mirror.getAnnotationType().getKind() == TypeKind.ERROR) {
            return false;
        }
        for (AnnotationValue value : elements.getElementValuesWithDefaults(mirror).values()) {
            Object v = value.getValue();
            boolean ok = v instanceof VariableElement || v instanceof Boolean || v instanceof Integer
                    || (v instanceof AnnotationMirror nested && resolved(nested));
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    Optional<LayerModel> read(Element element) {
        AnnotationMirror float8 = mirror(element, FLOAT8);
        failed = false;
        if (element.getKind() != ElementKind.CLASS) {
            report(Message.NOT_A_CLASS, element, float8, null, element.getSimpleName(),
                    "a" + (element.getKind() == ElementKind.INTERFACE ? "n " : " ") + element.getKind().name().toLowerCase().replace('_', ' '));
            return Optional.empty();
        }
        type = (TypeElement) element;
        ClassName annotated = ClassName.get(type);
        ClassName generated = ClassName.get(annotated.packageName(), String.join("_", annotated.simpleNames()) + "Float8");
        checkType(float8, generated);

        Recipe recipe = Recipe.valueOf(enumValue(float8, "recipe"));
        Granularity granularity = layerGranularity(float8, recipe);
        boolean powerOfTwo = powerOfTwo(float8, granularity);
        layerHistory = layerHistory(float8);
        reduction = DelayedScaling.AmaxReduction.valueOf(enumValue(float8, "amaxReduction"));
        anyDelayed = false;
        GemmModel output = gemm(float8, GemmKind.OUTPUT, recipe, granularity, powerOfTwo);
        GemmModel gradInput = gemm(float8, GemmKind.GRAD_INPUT, recipe, granularity, powerOfTwo);
        GemmModel gradWeight = gemm(float8, GemmKind.GRAD_WEIGHT, recipe, granularity, powerOfTwo);
        checkDelayedScalingApplies(float8);
        Backward backward = Backward.valueOf(enumValue(float8, "backward"));
        if (!output.fp8() && !gradInput.fp8() && !gradWeight.fp8()) {
            report(Message.NO_FP8_GEMM, type, float8, null, type.getSimpleName());
        }
        if (failed) {
            return Optional.empty();
        }
        Float8Plan plan = new Float8Plan(output.plan(), gradInput.plan(), gradWeight.plan(), backward);
        warnIfPolicyIgnored(float8, plan);
        return Optional.of(new LayerModel(type, annotated, generated, output, gradInput, gradWeight, plan,
                hasBiasConstructor(type)));
    }

    private void checkType(AnnotationMirror float8, ClassName generated) {
        TypeElement linear = elements.getTypeElement(LINEAR);
        if (linear == null) {
            report(Message.RUNTIME_MISSING, type, float8, null);
        } else if (!types.isSubtype(types.erasure(type.asType()), types.erasure(linear.asType()))) {
            report(Message.NOT_LINEAR, type, float8, null, type.getSimpleName(), type.getSuperclass());
        }
        if (type.getModifiers().contains(Modifier.ABSTRACT)) {
            report(Message.ABSTRACT_CLASS, type, float8, null, type.getSimpleName());
        }
        if (type.getNestingKind() == NestingKind.LOCAL || type.getNestingKind() == NestingKind.ANONYMOUS) {
            report(Message.LOCAL_CLASS, type, float8, null, type.getSimpleName());
        } else if (type.getNestingKind() == NestingKind.MEMBER && !type.getModifiers().contains(Modifier.STATIC)) {
            report(Message.INNER_CLASS, type, float8, null, type.getSimpleName());
        }
        for (Element e = type; e instanceof TypeElement t; e = t.getEnclosingElement()) {
            if (t.getModifiers().contains(Modifier.PRIVATE)) {
                report(Message.PRIVATE_CLASS, type, float8, null, t.getSimpleName(), generated.simpleName());
            }
        }
        if (type.getModifiers().contains(Modifier.FINAL)) {
            report(Message.FINAL_CLASS, type, float8, null, type.getSimpleName(), generated.simpleName());
        }
        if (!type.getTypeParameters().isEmpty()) {
            report(Message.GENERIC_CLASS, type, float8, null, type.getSimpleName(), generated.simpleName());
        }
        boolean sizeConstructor = false;
        for (ExecutableElement c : ElementFilter.constructorsIn(type.getEnclosedElements())) {
            sizeConstructor |= !c.getModifiers().contains(Modifier.PRIVATE) && c.getParameters().size() == 2
                    && c.getParameters().get(0).asType().getKind() == TypeKind.INT
                    && c.getParameters().get(1).asType().getKind() == TypeKind.INT;
        }
        if (!sizeConstructor) {
            report(Message.NO_SIZE_CONSTRUCTOR, type, float8, null, type.getSimpleName());
        }
        if (linear != null) {
            for (ExecutableElement m : ElementFilter.methodsIn(elements.getAllMembers(type))) {
                if (replacedByGenerated(m) && !m.getEnclosingElement().equals(linear)) {
                    boolean here = m.getEnclosingElement().equals(type);
                    report(Message.REPLACED_METHOD, here ? m : type, here ? null : float8, null,
                            m.getEnclosingElement().getSimpleName() + "." + m.getSimpleName() + "()", generated.simpleName());
                }
            }
        }
    }

    /**
     * Whether the layer has a non-private constructor (int inFeatures, int outFeatures, boolean bias): the generated
     * class then gets one too, which {@code Float8Layers.create(type, in, out, bias)} calls.
     */
    private static boolean hasBiasConstructor(TypeElement type) {
        for (ExecutableElement c : ElementFilter.constructorsIn(type.getEnclosedElements())) {
            if (!c.getModifiers().contains(Modifier.PRIVATE) && c.getParameters().size() == 3
                    && c.getParameters().get(0).asType().getKind() == TypeKind.INT
                    && c.getParameters().get(1).asType().getKind() == TypeKind.INT
                    && c.getParameters().get(2).asType().getKind() == TypeKind.BOOLEAN) {
                return true;
            }
        }
        return false;
    }

    /**
     * forward(Tensor), forward(SharedInput), forwardAdding(SharedInput, Tensor), backward(Tensor),
     * backwardAdding(Tensor, Tensor), savedBytes() or plan(): the methods the generated class writes.
     */
    private static boolean replacedByGenerated(ExecutableElement m) {
        List<String> parameters = m.getParameters().stream().map(p -> p.asType().toString()).toList();
        return switch (m.getSimpleName().toString()) {
            case "savedBytes", "plan" -> parameters.isEmpty();
            case "forward" -> parameters.equals(List.of(TENSOR)) || parameters.equals(List.of(SHARED_INPUT));
            case "forwardAdding" -> parameters.equals(List.of(SHARED_INPUT, TENSOR));
            case "backward" -> parameters.equals(List.of(TENSOR));
            case "backwardAdding" -> parameters.equals(List.of(TENSOR, TENSOR));
            default -> false;
        };
    }

    /** The base granularity: the recipe's, or the granularity attribute when there is no recipe. */
    /** The layer's amaxHistory, 0 (current scaling) when absent or out of range (then reported). */
    private int layerHistory(AnnotationMirror float8) {
        AnnotationValue explicit = explicit(float8, "amaxHistory");
        int history = explicit == null ? 0 : (Integer) explicit.getValue();
        if (history < 0 || history > DelayedScaling.MAX_HISTORY) {
            report(Message.AMAX_HISTORY_RANGE, type, float8, explicit, history, "0 for current scaling");
            return 0;
        }
        return history;
    }

    /**
     * An amaxHistory on the layer that reaches no operand (no TENSORWISE operand in an FP8 gemm), or an amaxReduction
     * with no delayed operand, would be silently ignored: both are errors on the value.
     */
    private void checkDelayedScalingApplies(AnnotationMirror float8) {
        if (anyDelayed) {
            return;
        }
        AnnotationValue history = explicit(float8, "amaxHistory");
        if (history != null && layerHistory > 0) {
            report(Message.AMAX_HISTORY_WITHOUT_TENSORWISE, type, float8, history, layerHistory);
        }
        AnnotationValue explicitReduction = explicit(float8, "amaxReduction");
        if (explicitReduction != null) {
            report(Message.AMAX_REDUCTION_WITHOUT_HISTORY, type, float8, explicitReduction, enumName(explicitReduction));
        }
    }

    private Granularity layerGranularity(AnnotationMirror float8, Recipe recipe) {
        AnnotationValue explicit = explicit(float8, "granularity");
        if (recipe == Recipe.NONE) {
            return Granularity.valueOf(enumValue(float8, "granularity"));
        }
        Granularity fromRecipe = Recipes.granularity(recipe);
        if (explicit != null && !enumName(explicit).equals(fromRecipe.name())) {
            report(Message.RECIPE_GRANULARITY_CONFLICT, type, float8, explicit, recipe, fromRecipe, enumName(explicit));
        }
        return fromRecipe;
    }

    private boolean powerOfTwo(AnnotationMirror float8, Granularity granularity) {
        AnnotationValue explicit = explicit(float8, "powerOfTwoScales");
        boolean value = explicit != null && (Boolean) explicit.getValue();
        if (explicit != null && !value && granularity == Granularity.MX) {
            report(Message.MX_WITHOUT_POWER_OF_TWO, type, float8, explicit);
        }
        return value;
    }

    private GemmModel gemm(AnnotationMirror float8, GemmKind kind, Recipe recipe, Granularity layerGranularity,
            boolean powerOfTwo) {
        AnnotationMirror config = nested(float8, kind.attribute);
        for (Role role : Role.values()) {
            AnnotationValue operand = explicit(config, role.attribute);
            if (operand != null && !kind.has(role)) {
                report(Message.OPERAND_NOT_IN_GEMM, type, config, operand, kind.title, kind.formula, role.attribute,
                        kind.first.attribute, kind.second.attribute);
            }
        }
        AnnotationValue gemmHighPrecision = explicit(config, "highPrecision");
        boolean recipeHighPrecision = Recipes.keepsHighPrecision(recipe, kind.gemm);
        if (recipeHighPrecision && gemmHighPrecision != null && !(Boolean) gemmHighPrecision.getValue()) {
            report(Message.RECIPE_HIGH_PRECISION_CONFLICT, type, config, gemmHighPrecision);
        }
        boolean highPrecision = recipeHighPrecision || (gemmHighPrecision != null && (Boolean) gemmHighPrecision.getValue());
        AnnotationValue fast = trueOrNull(explicit(config, "fastAccumulation"));
        if (fast != null && kind.gemm == Gemm.GRAD_WEIGHT) {
            report(Message.FAST_ACCUMULATION_GRAD_WEIGHT, type, config, fast);
            fast = null;
        } else if (fast != null && highPrecision) {
            report(Message.FAST_ACCUMULATION_HIGH_PRECISION, type, config, fast, kind.title);
            fast = null;
        }
        AnnotationMirror first = nested(config, kind.first.attribute);
        AnnotationMirror second = nested(config, kind.second.attribute);
        if (highPrecision) {
            noQuantizationSettings(kind, kind.first, first);
            noQuantizationSettings(kind, kind.second, second);
            return GemmModel.highPrecision(kind);
        }
        AnnotationValue firstHighPrecision = trueOrNull(explicit(first, "highPrecision"));
        AnnotationValue secondHighPrecision = trueOrNull(explicit(second, "highPrecision"));
        if (firstHighPrecision != null && secondHighPrecision != null) {
            report(Message.BOTH_OPERANDS_HIGH_PRECISION, type, config, null, kind.title, kind.attribute);
            if (fast != null) {
                report(Message.FAST_ACCUMULATION_HIGH_PRECISION, type, config, fast, kind.title);
            }
            return GemmModel.highPrecision(kind);
        }
        if (firstHighPrecision != null || secondHighPrecision != null) {
            boolean firstIsHigh = firstHighPrecision != null;
            report(Message.MIXED_PRECISION_GEMM, type, firstIsHigh ? first : second,
                    firstIsHigh ? firstHighPrecision : secondHighPrecision, kind.title,
                    (firstIsHigh ? kind.first : kind.second).attribute, (firstIsHigh ? kind.second : kind.first).attribute,
                    kind.attribute);
            return GemmModel.highPrecision(kind);
        }
        OperandModel a = operand(kind, kind.first, kind.firstAxis, first, recipe, layerGranularity, powerOfTwo);
        OperandModel b = operand(kind, kind.second, kind.secondAxis, second, recipe, layerGranularity, powerOfTwo);
        boolean aMx = a.spec().granularity() == ScalingGranularity.MX_1X32;
        boolean bMx = b.spec().granularity() == ScalingGranularity.MX_1X32;
        if (aMx != bMx) {
            OperandModel mx = aMx ? a : b;
            OperandModel other = aMx ? b : a;
            AnnotationMirror blame = explicit(first, "granularity") != null ? first : second;
            report(Message.MX_PARTNER, type, blame, explicit(blame, "granularity"), kind.title, mx.role().attribute,
                    other.spec().granularity(), other.role().attribute);
        }
        return new GemmModel(kind, a, b, fast != null);
    }

    private void noQuantizationSettings(GemmKind kind, Role role, AnnotationMirror operand) {
        for (String attribute : new String[] {"granularity", "format", "amaxHistory"}) {
            AnnotationValue v = explicit(operand, attribute);
            if (v != null) {
                report(Message.SETTINGS_ON_HIGH_PRECISION_GEMM, type, operand, v, kind.title, role.attribute, attribute,
                        v.getValue() instanceof Integer i ? i.toString() : enumName(v));
            }
        }
    }

    private OperandModel operand(GemmKind kind, Role role, int axis, AnnotationMirror config, Recipe recipe,
            Granularity layerGranularity, boolean powerOfTwo) {
        ScalingGranularity granularity = Recipes.expand(layerGranularity, role.operand);
        AnnotationValue override = explicit(config, "granularity");
        ScalingGranularity requested = override == null ? null
                : Recipes.granularity(OperandGranularity.valueOf(enumName(override)));
        if (requested != null) {
            if (recipe != Recipe.NONE && requested != granularity) {
                report(Message.RECIPE_OPERAND_CONFLICT, type, config, override, recipe, role.attribute, kind.title,
                        granularity, requested);
            }
            if (requested == ScalingGranularity.BLOCK_128X128 && role != Role.WEIGHT) {
                report(Message.BLOCKS_ON_ACTIVATIONS, type, config, override, role.attribute, kind.title);
            }
            granularity = requested;
        }
        AnnotationValue format = explicit(config, "format");
        // MX scales are E8M0 powers of two whatever the layer says: QuantSpec sets powerOfTwoScales for MX itself
        return new OperandModel(kind, role, new QuantSpec(Recipes.format(format == null ? Format.DEFAULT
                : Format.valueOf(enumName(format))), granularity, axis, powerOfTwo,
                delayedScaling(kind, role, config, granularity)));
    }

    /**
     * The operand's amax history: its own amaxHistory, else the layer's, for a TENSORWISE operand; null for current
     * scaling. An operand's own history on another granularity is an error; the layer's skips such operands.
     */
    private DelayedScaling delayedScaling(GemmKind kind, Role role, AnnotationMirror config,
            ScalingGranularity granularity) {
        AnnotationValue own = explicit(config, "amaxHistory");
        int history = layerHistory;
        if (own != null) {
            history = (Integer) own.getValue();
            if (history < -1 || history > DelayedScaling.MAX_HISTORY) {
                report(Message.AMAX_HISTORY_RANGE, type, config, own, history,
                        "0 for current scaling, or -1 for the layer's amaxHistory");
                return null;
            }
            if (history == -1) {
                history = layerHistory;
            } else if (history > 0 && granularity != ScalingGranularity.TENSORWISE) {
                report(Message.AMAX_HISTORY_NOT_TENSORWISE, type, config, own, role.attribute, kind.title, granularity);
                return null;
            }
        }
        if (history == 0 || granularity != ScalingGranularity.TENSORWISE) {
            return null;
        }
        anyDelayed = true;
        return new DelayedScaling(history, reduction);
    }

    /** Warns when the backward policy was set but the plan gives it nothing to decide. */
    private void warnIfPolicyIgnored(AnnotationMirror float8, Float8Plan plan) {
        AnnotationValue explicit = explicit(float8, "backward");
        if (explicit == null || plan.backward() == Backward.KEEP_HIGH_PRECISION) {
            return;
        }
        if (!plan.output().fp8() || !plan.gradWeight().fp8()) {
            report(Message.POLICY_IGNORED_HIGH_PRECISION, type, float8, explicit, plan.backward(),
                    (plan.output().fp8() ? GemmKind.GRAD_WEIGHT : GemmKind.OUTPUT).title);
        } else if (plan.savedInput() == Float8Plan.SavedInput.FORWARD_FP8_TRANSPOSED) {
            report(Message.POLICY_IGNORED_TRANSPOSEABLE, type, float8, explicit, plan.backward(),
                    plan.output().first().granularity());
        }
    }

    private void report(Message message, Element element, AnnotationMirror mirror, AnnotationValue value, Object... args) {
        failed |= message.kind == javax.tools.Diagnostic.Kind.ERROR;
        messager.printMessage(message.kind, message.format(args), element, mirror, value);
    }

    private static AnnotationMirror mirror(Element element, String annotation) {
        for (AnnotationMirror m : element.getAnnotationMirrors()) {
            if (((TypeElement) m.getAnnotationType().asElement()).getQualifiedName().contentEquals(annotation)) {
                return m;
            }
        }
        throw new IllegalStateException(element + " is not annotated with " + annotation);
    }

    /** The value written in the source for attribute, or null when it was left to its default. */
    private static AnnotationValue explicit(AnnotationMirror mirror, String attribute) {
        for (Map.Entry<? extends ExecutableElement, ? extends AnnotationValue> e : mirror.getElementValues().entrySet()) {
            if (e.getKey().getSimpleName().contentEquals(attribute)) {
                return e.getValue();
            }
        }
        return null;
    }

    private AnnotationValue valueWithDefault(AnnotationMirror mirror, String attribute) {
        for (Map.Entry<? extends ExecutableElement, ? extends AnnotationValue> e
                : elements.getElementValuesWithDefaults(mirror).entrySet()) {
            if (e.getKey().getSimpleName().contentEquals(attribute)) {
                return e.getValue();
            }
        }
        throw new IllegalStateException(mirror + " has no attribute " + attribute);
    }

    private String enumValue(AnnotationMirror mirror, String attribute) {
        return enumName(valueWithDefault(mirror, attribute));
    }

    private AnnotationMirror nested(AnnotationMirror mirror, String attribute) {
        return (AnnotationMirror) valueWithDefault(mirror, attribute).getValue();
    }

    private static String enumName(AnnotationValue value) {
        return ((VariableElement) value.getValue()).getSimpleName().toString();
    }

    private static AnnotationValue trueOrNull(AnnotationValue value) {
        return value != null && (Boolean) value.getValue() ? value : null;
    }
}
