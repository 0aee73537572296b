package dev.float8j.processor;

import com.palantir.javapoet.AnnotationSpec;
import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.JavaFile;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.TypeSpec;
import dev.float8j.annotations.Backward;
import dev.float8j.plan.DelayedScaling;
import dev.float8j.plan.Float8Plan;
import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.Gemm;
import dev.float8j.plan.GemmPlan;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.processor.LayerModel.GemmModel;
import dev.float8j.processor.LayerModel.OperandModel;
import java.util.ArrayList;
import java.util.List;
import javax.lang.model.element.Modifier;

/**
 * Writes the FP8 subclass of one layer from its {@link LayerModel}: the resolved plan as constants, and forward and
 * backward passes that run it through the runtime's {@code Float8Matmul}, as {@code Float8Linear} does with the same
 * plan. Saves, debug sites and switches, and the release of temporaries all live in the runtime.
 */
final class LayerWriter {
    private static final String RUNTIME = "dev.float8j.runtime";
    private static final ClassName TENSOR = ClassName.get(RUNTIME, "Tensor");
    private static final ClassName SHARED_INPUT = ClassName.get(RUNTIME + ".nn", "SharedInput");
    private static final ClassName GEMM = ClassName.get(Gemm.class);
    private static final ClassName FP8_FORMAT = ClassName.get(Fp8Format.class);
    private static final ClassName QUANT_SPEC = ClassName.get(QuantSpec.class);
    private static final ClassName SCALING = ClassName.get(ScalingGranularity.class);
    private static final ClassName PLAN = ClassName.get(Float8Plan.class);
    private static final ClassName GEMM_PLAN = ClassName.get(GemmPlan.class);
    private static final ClassName BACKWARD = ClassName.get(Backward.class);
    private static final ClassName DELAYED = ClassName.get(DelayedScaling.class);
    private static final ClassName GENERATED = ClassName.get("javax.annotation.processing", "Generated");

    private final LayerModel layer;

    /** new QuantSpec(...), with the amax history where the spec is delayed. */
    private static CodeBlock specInitializer(QuantSpec spec) {
        CodeBlock current = CodeBlock.of("$T.$L, $T.$L, $L, $L", FP8_FORMAT, spec.format().name(), SCALING,
                spec.granularity().name(), spec.axis(), spec.powerOfTwoScales());
        if (spec.delayed() == null) {
            return CodeBlock.of("new $T($L)", QUANT_SPEC, current);
        }
        return CodeBlock.of("new $T($L,\n$>new $T($L, $T.AmaxReduction.$L)$<)", QUANT_SPEC, current, DELAYED,
                spec.delayed().historyLength(), DELAYED, spec.delayed().reduction().name());
    }

    LayerWriter(LayerModel layer) {
        this.layer = layer;
    }

    JavaFile write() {
        TypeSpec.Builder type = TypeSpec.classBuilder(layer.generated())
                .addOriginatingElement(layer.type())
                .addAnnotation(AnnotationSpec.builder(GENERATED)
                        .addMember("value", "$S", Float8Processor.class.getName())
                        .addMember("comments", "$S", "from @Float8 on " + layer.annotated().canonicalName())
                        .build())
                .addModifiers(Modifier.PUBLIC, Modifier.FINAL)
                .superclass(layer.annotated())
                .addJavadoc(classJavadoc());
        for (OperandModel operand : operands()) {
            type.addField(FieldSpec.builder(QUANT_SPEC, operand.specConstant(), Modifier.PRIVATE, Modifier.STATIC, Modifier.FINAL)
                    .addJavadoc("$L gemm, $L: $L.", operand.gemm().title, operand.role().symbol, operand.describe())
                    .initializer(specInitializer(operand.spec()))
                    .build());
        }
        type.addField(FieldSpec.builder(PLAN, "PLAN", Modifier.PUBLIC, Modifier.STATIC, Modifier.FINAL)
                .addJavadoc("The plan this class follows: a {@code Float8Linear} with it gives bit-identical results.")
                .initializer("new $T(\n$>$L,\n$L,\n$L,\n$T.$L$<)", PLAN, gemmPlan(layer.output()), gemmPlan(layer.gradInput()),
                        gemmPlan(layer.gradWeight()), BACKWARD, layer.plan().backward().name())
                .build());
        type.addMethod(MethodSpec.constructorBuilder()
                .addModifiers(Modifier.PUBLIC)
                .addParameter(int.class, "inFeatures")
                .addParameter(int.class, "outFeatures")
                .addStatement("super(inFeatures, outFeatures)")
                .build());
        if (layer.biasConstructor()) {
            type.addMethod(MethodSpec.constructorBuilder()
                    .addModifiers(Modifier.PUBLIC)
                    .addParameter(int.class, "inFeatures")
                    .addParameter(int.class, "outFeatures")
                    .addParameter(boolean.class, "bias")
                    .addStatement("super(inFeatures, outFeatures, bias)")
                    .build());
        }
        type.addMethod(plan());
        type.addMethod(forward());
        type.addMethod(forwardShared());
        type.addMethod(forwardAdding());
        type.addMethod(backward());
        type.addMethod(backwardAdding());
        type.addMethod(savedBytes());
        return JavaFile.builder(layer.generated().packageName(), type.build())
                .skipJavaLangImports(true)
                .indent("    ")
                .build();
    }

    private CodeBlock classJavadoc() {
        CodeBlock.Builder doc = CodeBlock.builder()
                .add("The FP8 version of {@link $T}, written by the float8j processor from its {@code @Float8} annotation.\n",
                        layer.annotated())
                .add("Create it with {@code Float8Layers.create($T.class, in, out$L)}.\n\n", layer.annotated(),
                        layer.biasConstructor() ? "[, bias]" : "")
                .add("<pre>\n");
        for (GemmModel gemm : gemms()) {
            doc.add("$L $L$L\n", pad(gemm.kind().title, 12), gemm.kind().formula,
                    gemm.fastAccumulation() ? " (fast accumulation)" : "");
            if (gemm.fp8()) {
                doc.add("    $L: $L\n", pad(gemm.first().role().symbol, 2), gemm.first().describe());
                doc.add("    $L: $L\n", pad(gemm.second().role().symbol, 2), gemm.second().describe());
            } else {
                doc.add("    in high precision\n");
            }
        }
        if (layer.biasConstructor()) {
            doc.add("$L y += b in F32 before y is rounded; db = column sums of dY in F32 (never quantized)\n",
                    pad("bias", 12));
        }
        doc.add("saved for backward: $L\n", savedDescription())
                .add("    (nothing for W: grad_input quantizes it again from the master weight)\n");
        return doc.add("</pre>\n").build();
    }

    private String savedDescription() {
        return switch (layer.savedInput()) {
            case HIGH_PRECISION -> "x in high precision" + (layer.gradWeight().fp8() && layer.output().fp8()
                    ? " (" + layer.plan().backward() + ")" : "");
            case FORWARD_FP8_TRANSPOSED -> "the forward's FP8 x, which grad_weight reads along M as is (transposeable)";
            case FORWARD_FP8_REQUANTIZED -> "the forward's FP8 x, requantized along M in backward (REQUANTIZE)";
            case BOTH_AXES_COPY -> "the FP8 x along M, quantized in forward with the copy along K (BOTH_AXES)";
        };
    }

    private static String pad(String s, int width) {
        return s + " ".repeat(Math.max(0, width - s.length()));
    }

    private CodeBlock gemmPlan(GemmModel gemm) {
        if (!gemm.fp8()) {
            return CodeBlock.of("$T.highPrecision($T.$L)", GEMM_PLAN, GEMM, gemm.kind().gemm.name());
        }
        return CodeBlock.of("new $T($T.$L, $L, $L$L)", GEMM_PLAN, GEMM, gemm.kind().gemm.name(), gemm.first().specConstant(),
                gemm.second().specConstant(), gemm.fastAccumulation() ? ", true" : "");
    }

    /** plan(), read once by Linear's constructor: the plan that the layer's Float8Matmul runs. */
    private MethodSpec plan() {
        return MethodSpec.methodBuilder("plan")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(PLAN)
                .addStatement("return PLAN")
                .build();
    }

    /** The plan's output gemm (the class Javadoc spells out every gemm and the save). */
    private MethodSpec forward() {
        return MethodSpec.methodBuilder("forward")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(TENSOR, "x")
                .addStatement("checkInput(x)")
                .addStatement("return outputShape(matmul().forward(backend(), x, weight, biasValue()), x)")
                .build();
    }

    /** The same for an input several layers read: a high-precision save is a view, an FP8 cast may be shared. */
    private MethodSpec forwardShared() {
        return MethodSpec.methodBuilder("forward")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(SHARED_INPUT, "in")
                .addStatement("checkInput(in.tensor())")
                .addStatement("return outputShape(matmul().forward(backend(), in, weight, biasValue()), in.tensor())")
                .build();
    }

    /** The same with a residual added in the output gemm, before y's one rounding. */
    private MethodSpec forwardAdding() {
        return MethodSpec.methodBuilder("forwardAdding")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(SHARED_INPUT, "in")
                .addParameter(TENSOR, "residual")
                .addStatement("checkInput(in.tensor())")
                .addStatement("return outputShape(matmul().forward(backend(), in, weight, biasValue(), residual), "
                        + "in.tensor())")
                .build();
    }

    /** The plan's grad_weight and grad_input gemms. */
    private MethodSpec backward() {
        return MethodSpec.methodBuilder("backward")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(TENSOR, "dY")
                .addStatement("return matmul().backward(backend(), dY, weight, bias)")
                .build();
    }

    /** The same with a gradient added in the grad_input gemm, before dX's one rounding. */
    private MethodSpec backwardAdding() {
        return MethodSpec.methodBuilder("backwardAdding")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(TENSOR, "dY")
                .addParameter(TENSOR, "addend")
                .addStatement("return matmul().backward(backend(), dY, weight, bias, addend)")
                .build();
    }

    private MethodSpec savedBytes() {
        return MethodSpec.methodBuilder("savedBytes")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(long.class)
                .addStatement("return matmul().savedBytes()")
                .build();
    }

    private List<GemmModel> gemms() {
        return List.of(layer.output(), layer.gradInput(), layer.gradWeight());
    }

    private List<OperandModel> operands() {
        List<OperandModel> out = new ArrayList<>();
        for (GemmModel gemm : gemms()) {
            if (gemm.fp8()) {
                out.add(gemm.first());
                out.add(gemm.second());
            }
        }
        return out;
    }
}
