package dev.float8j.processor;

import com.palantir.javapoet.AnnotationSpec;
import com.palantir.javapoet.ClassName;
import com.palantir.javapoet.CodeBlock;
import com.palantir.javapoet.FieldSpec;
import com.palantir.javapoet.JavaFile;
import com.palantir.javapoet.MethodSpec;
import com.palantir.javapoet.ParameterizedTypeName;
import com.palantir.javapoet.TypeSpec;
import dev.float8j.processor.LayerModel.GemmModel;
import dev.float8j.processor.LayerModel.OperandModel;
import dev.float8j.processor.LayerModel.SavedInput;
import java.util.ArrayList;
import java.util.List;
import javax.lang.model.element.Modifier;

/**
 * Writes the FP8 subclass of one layer from its {@link LayerModel}: straight-line forward and backward passes
 * that take the same runtime steps, in the same order, as {@code Float8Linear} with the same plan.
 */
final class LayerWriter {
    private static final String RUNTIME = "dev.float8j.runtime";
    private static final ClassName BACKEND = ClassName.get(RUNTIME, "Backend");
    private static final ClassName TENSOR = ClassName.get(RUNTIME, "Tensor");
    private static final ClassName GEMM = ClassName.get(RUNTIME, "Gemm");
    private static final ClassName OPERAND = ClassName.get(RUNTIME, "Operand");
    private static final ClassName QUANTIZE = ClassName.get(RUNTIME, "Quantize");
    private static final ClassName FP8_FORMAT = ClassName.get(RUNTIME, "Fp8Format");
    private static final ClassName FLOAT8_DEBUG = ClassName.get(RUNTIME + ".debug", "Float8Debug");
    private static final ClassName SITE = ClassName.get(RUNTIME + ".debug", "Site");
    private static final ClassName FLOAT8_TENSOR = ClassName.get(RUNTIME + ".quant", "Float8Tensor");
    private static final ClassName QUANT_SPEC = ClassName.get(RUNTIME + ".quant", "QuantSpec");
    private static final ClassName SCALING = ClassName.get(RUNTIME + ".quant", "ScalingGranularity");
    private static final ClassName PLAN = ClassName.get(RUNTIME + ".plan", "Float8Plan");
    private static final ClassName GEMM_PLAN = ClassName.get(RUNTIME + ".plan", "GemmPlan");
    private static final ClassName SAVED = ClassName.get(RUNTIME + ".nn", "SavedTensor");
    private static final ClassName BACKWARD = ClassName.get("dev.float8j.annotations", "Backward");
    private static final ClassName DEQUE = ClassName.get("java.util", "Deque");
    private static final ClassName ARRAY_DEQUE = ClassName.get("java.util", "ArrayDeque");
    private static final ClassName GENERATED = ClassName.get("javax.annotation.processing", "Generated");

    private final LayerModel layer;

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
                    .initializer("new $T($T.$L, $T.$L, $L, $L)", QUANT_SPEC, FP8_FORMAT, operand.format(), SCALING,
                            operand.granularity(), operand.axis(), operand.powerOfTwo())
                    .build());
        }
        type.addField(FieldSpec.builder(PLAN, "PLAN", Modifier.PUBLIC, Modifier.STATIC, Modifier.FINAL)
                .addJavadoc("The plan this class follows: a {@code Float8Linear} with it gives bit-identical results.")
                .initializer("new $T(\n$>$L,\n$L,\n$L,\n$T.$L$<)", PLAN, gemmPlan(layer.output()), gemmPlan(layer.gradInput()),
                        gemmPlan(layer.gradWeight()), BACKWARD, layer.backward())
                .build());
        type.addField(FieldSpec.builder(ParameterizedTypeName.get(DEQUE, SAVED), "savedInputs", Modifier.PRIVATE, Modifier.FINAL)
                .initializer("new $T<>()", ARRAY_DEQUE)
                .build());
        if (layer.anyFp8()) {
            type.addField(FieldSpec.builder(String.class, "module", Modifier.PRIVATE)
                    .addJavadoc("The fully qualified module name, fixed on the first call, when the model tree is built.")
                    .build());
            for (OperandModel operand : operands()) {
                type.addField(SITE, operand.siteField(), Modifier.PRIVATE);
            }
        }
        type.addMethod(MethodSpec.constructorBuilder()
                .addModifiers(Modifier.PUBLIC)
                .addParameter(int.class, "inFeatures")
                .addParameter(int.class, "outFeatures")
                .addStatement("super(inFeatures, outFeatures)")
                .build());
        type.addMethod(forward());
        type.addMethod(backward());
        type.addMethod(savedBytes());
        type.addMethod(float8Plan());
        if (layer.anyFp8()) {
            type.addMethod(module());
        }
        return JavaFile.builder(layer.generated().packageName(), type.build())
                .skipJavaLangImports(true)
                .indent("    ")
                .build();
    }

    private CodeBlock classJavadoc() {
        CodeBlock.Builder doc = CodeBlock.builder()
                .add("The FP8 version of {@link $T}, written by the float8j processor from its {@code @Float8} annotation.\n",
                        layer.annotated())
                .add("Create it with {@code Float8Layers.create($T.class, in, out)}.\n\n", layer.annotated())
                .add("<pre>\n");
        for (GemmModel gemm : gemms()) {
            doc.add("$L $L\n", pad(gemm.kind().title, 12), gemm.kind().formula);
            if (gemm.fp8()) {
                doc.add("    $L: $L\n", pad(gemm.first().role().symbol, 2), gemm.first().describe());
                doc.add("    $L: $L\n", pad(gemm.second().role().symbol, 2), gemm.second().describe());
            } else {
                doc.add("    in high precision\n");
            }
        }
        doc.add("saved for backward: $L\n", savedDescription())
                .add("    (nothing for W: grad_input quantizes it again from the master weight)\n");
        return doc.add("</pre>\n").build();
    }

    private String savedDescription() {
        return switch (layer.savedInput()) {
            case HIGH_PRECISION -> "x in high precision" + (layer.gradWeight().fp8() && layer.output().fp8()
                    ? " (" + layer.backward() + ")" : "");
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
            return CodeBlock.of("$T.highPrecision($T.$L)", GEMM_PLAN, GEMM, gemm.kind().constant());
        }
        return CodeBlock.of("new $T($T.$L, $L, $L)", GEMM_PLAN, GEMM, gemm.kind().constant(), gemm.first().specConstant(),
                gemm.second().specConstant());
    }

    private MethodSpec forward() {
        MethodSpec.Builder m = MethodSpec.methodBuilder("forward")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(TENSOR, "x")
                .addStatement("checkInput(x)");
        GemmModel output = layer.output();
        if (output.fp8()) {
            m.addStatement("String module = module()");
        }
        m.addStatement("$T backend = backend()", BACKEND).addStatement("$T w = weight.value()", TENSOR);
        if (!output.fp8()) {
            return m.addComment("output gemm $L in high precision; x saved as is for backward", output.kind().formula)
                    .addStatement("savedInputs.push($T.highPrecision(x))", SAVED)
                    .addStatement("return outputShape(backend.matmul(x, 1, w, 1, x.dtype()), x)")
                    .build();
        }
        m.beginControlFlow("if (!$T.fp8Enabled(module, $T.OUTPUT))", FLOAT8_DEBUG, GEMM)
                .addComment("output gemm switched off for debugging: high precision, x saved as is")
                .addStatement("savedInputs.push($T.highPrecision(x))", SAVED)
                .addStatement("return outputShape(backend.matmul(x, 1, w, 1, x.dtype()), x)")
                .endControlFlow();
        OperandModel x = output.first();
        OperandModel w = output.second();
        SavedInput saved = layer.savedInput();
        if (saved == SavedInput.BOTH_AXES_COPY) {
            OperandModel xAlongM = layer.gradWeight().second();
            m.addComment("output gemm: $L", output.kind().formula)
                    .addStatement("$T $L", FLOAT8_TENSOR, x.local())
                    .beginControlFlow("if ($T.fp8Enabled(module, $T.GRAD_WEIGHT))", FLOAT8_DEBUG, GEMM)
                    .addComment("x in one pass, for output: $L", x.describe())
                    .addComment("and for grad_weight: $L", xAlongM.describe())
                    .addStatement("$T[] xBothAxes = $T.quantizeBothAxes(backend, x, $L, $L, $L, $L)", FLOAT8_TENSOR, QUANTIZE,
                            x.specConstant(), x.siteField(), xAlongM.specConstant(), xAlongM.siteField())
                    .addStatement("$L = xBothAxes[0]", x.local())
                    .addComment("saved for grad_weight: the FP8 x along M")
                    .addStatement("savedInputs.push($T.fp8(xBothAxes[1]))", SAVED)
                    .nextControlFlow("else")
                    .addComment("grad_weight switched off for debugging: x along K only, x saved as is")
                    .addStatement("$L = $L", x.local(), quantize(x, "x"))
                    .addStatement("savedInputs.push($T.highPrecision(x))", SAVED)
                    .endControlFlow();
        } else {
            m.addComment("output gemm: $L", output.kind().formula)
                    .addComment("x: $L", x.describe())
                    .addStatement("$T $L = $L", FLOAT8_TENSOR, x.local(), quantize(x, "x"));
            if (saved == SavedInput.HIGH_PRECISION) {
                m.addComment("saved for grad_weight: x as is")
                        .addStatement("savedInputs.push($T.highPrecision(x))", SAVED);
            } else {
                m.addComment(saved == SavedInput.FORWARD_FP8_TRANSPOSED
                                ? "saved for grad_weight: this FP8 x, read along M as is (unless grad_weight is switched off)"
                                : "saved for grad_weight: this FP8 x, requantized along M in backward (unless grad_weight is switched off)")
                        .addStatement("savedInputs.push($T.fp8Enabled(module, $T.GRAD_WEIGHT) ? $T.fp8($L) : $T.highPrecision(x))",
                                FLOAT8_DEBUG, GEMM, SAVED, x.local(), SAVED);
            }
        }
        return m.addComment("W: $L", w.describe())
                .addStatement("$T $L = $L", FLOAT8_TENSOR, w.local(), quantize(w, "w"))
                .addStatement("return outputShape(backend.gemm($L, $L, x.dtype()), x)", x.local(), w.local())
                .build();
    }

    private MethodSpec backward() {
        MethodSpec.Builder m = MethodSpec.methodBuilder("backward")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(TENSOR)
                .addParameter(TENSOR, "dY")
                .addStatement("$T saved = popSaved(savedInputs)", SAVED)
                .addStatement("saved.checkGradOutput(this, dY)");
        if (layer.gradInput().fp8() || layer.gradWeight().fp8()) {
            m.addStatement("String module = module()");
        }
        m.addStatement("$T backend = backend()", BACKEND).addStatement("$T w = weight.value()", TENSOR);
        if (fusesGradOutput()) {
            OperandModel alongN = layer.gradInput().first();
            OperandModel alongM = layer.gradWeight().first();
            m.addCode("\n")
                    .addComment("dY in one pass, for grad_input: $L", alongN.describe())
                    .addComment("and for grad_weight: $L (unless either gemm is switched off)", alongM.describe())
                    .addStatement("$T[] dYBothAxes = $T.fp8Enabled(module, $T.GRAD_INPUT) && $T.fp8Enabled(module, $T.GRAD_WEIGHT)"
                            + "\n? $T.quantizeBothAxes(backend, dY, $L, $L, $L, $L)\n: null", FLOAT8_TENSOR, FLOAT8_DEBUG, GEMM,
                            FLOAT8_DEBUG, GEMM, QUANTIZE, alongN.specConstant(), alongN.siteField(), alongM.specConstant(),
                            alongM.siteField());
        }
        gradWeight(m);
        gradInput(m);
        return m.build();
    }

    /** Both backward gemms quantize dY, with one granularity: one pass over dY serves both. */
    private boolean fusesGradOutput() {
        return layer.gradInput().fp8() && layer.gradWeight().fp8()
                && layer.gradInput().first().granularity().equals(layer.gradWeight().first().granularity());
    }

    /** dY's copy for one backward gemm: from the both-axes pass when there is one, else quantized here. */
    private CodeBlock gradOutput(OperandModel dY, int bothAxesIndex) {
        if (!fusesGradOutput()) {
            return quantize(dY, "dY");
        }
        return CodeBlock.of("dYBothAxes != null ? dYBothAxes[$L] : $L", bothAxesIndex, quantize(dY, "dY"));
    }

    private void gradWeight(MethodSpec.Builder m) {
        GemmModel gemm = layer.gradWeight();
        m.addCode("\n");
        if (!gemm.fp8()) {
            m.addComment("grad_weight gemm $L in high precision", gemm.kind().formula)
                    .addStatement("weight.accumulateGrad(backend.matmul(dY, 0, saved.highPrecision(), 0))");
            return;
        }
        OperandModel dY = gemm.first();
        OperandModel x = gemm.second();
        m.addComment("grad_weight gemm: $L", gemm.kind().formula);
        if (layer.savedInput().fp8()) {
            m.beginControlFlow("if (saved.isFp8())")
                    .addComment("dY: $L", dY.describe())
                    .addStatement("$T $L = $L", FLOAT8_TENSOR, dY.local(), gradOutput(dY, 1));
            switch (layer.savedInput()) {
                case FORWARD_FP8_TRANSPOSED -> m.addComment("x: the saved FP8 x along K, read along M ($L is transposeable)", x.granularity())
                        .addStatement("$T $L = saved.fp8().alongOtherAxis()", FLOAT8_TENSOR, x.local());
                case FORWARD_FP8_REQUANTIZED -> m.addComment("x: the saved FP8 x requantized to $L", x.describe())
                        .addStatement("$T $L = $T.requantize(backend, saved.fp8(), $L, $L)", FLOAT8_TENSOR, x.local(), QUANTIZE,
                                x.specConstant(), x.siteField());
                case BOTH_AXES_COPY -> m.addComment("x: the saved FP8 copy, $L", x.describe())
                        .addStatement("$T $L = saved.fp8()", FLOAT8_TENSOR, x.local());
                case HIGH_PRECISION -> throw new IllegalStateException("unreachable");
            }
            m.addStatement("weight.accumulateGradGemm(backend, $L, $L)", dY.local(), x.local())
                    .nextControlFlow("else if ($T.fp8Enabled(module, $T.GRAD_WEIGHT))", FLOAT8_DEBUG, GEMM)
                    .addComment("the output gemm was switched off, so x was saved as is");
        } else {
            m.beginControlFlow("if ($T.fp8Enabled(module, $T.GRAD_WEIGHT))", FLOAT8_DEBUG, GEMM);
        }
        m.addComment("dY: $L", dY.describe())
                .addStatement("$T $L = $L", FLOAT8_TENSOR, dY.local(), gradOutput(dY, 1))
                .addComment("x: quantized from the saved high-precision x, $L", x.describe())
                .addStatement("$T $L = $L", FLOAT8_TENSOR, x.local(), quantize(x, "saved.highPrecision()"))
                .addStatement("weight.accumulateGradGemm(backend, $L, $L)", dY.local(), x.local())
                .nextControlFlow("else")
                .addComment("grad_weight switched off for debugging")
                .addStatement("weight.accumulateGrad(backend.matmul(dY, 0, saved.highPrecision(), 0))")
                .endControlFlow();
    }

    private void gradInput(MethodSpec.Builder m) {
        GemmModel gemm = layer.gradInput();
        m.addCode("\n");
        if (!gemm.fp8()) {
            m.addComment("grad_input gemm $L in high precision", gemm.kind().formula)
                    .addStatement("return saved.shapeLikeInput(backend.matmul(dY, 1, w, 0, saved.dtype()))");
            return;
        }
        OperandModel dY = gemm.first();
        OperandModel w = gemm.second();
        m.addComment("grad_input gemm: $L", gemm.kind().formula)
                .beginControlFlow("if (!$T.fp8Enabled(module, $T.GRAD_INPUT))", FLOAT8_DEBUG, GEMM)
                .addComment("grad_input switched off for debugging")
                .addStatement("return saved.shapeLikeInput(backend.matmul(dY, 1, w, 0, saved.dtype()))")
                .endControlFlow()
                .addComment("dY: $L", dY.describe())
                .addStatement("$T $L = $L", FLOAT8_TENSOR, dY.local(), gradOutput(dY, 0))
                .addComment("W: $L, from the master weight", w.describe())
                .addStatement("$T $L = $L", FLOAT8_TENSOR, w.local(), quantize(w, "w"))
                .addStatement("return saved.shapeLikeInput(backend.gemm($L, $L, saved.dtype()))", dY.local(), w.local());
    }

    private static CodeBlock quantize(OperandModel operand, String tensor) {
        return CodeBlock.of("$T.quantize(backend, $L, $L, $L)", QUANTIZE, tensor, operand.specConstant(), operand.siteField());
    }

    private MethodSpec savedBytes() {
        return MethodSpec.methodBuilder("savedBytes")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(long.class)
                .addStatement("long total = 0")
                .beginControlFlow("for ($T s : savedInputs)", SAVED)
                .addStatement("total += s.bytes()")
                .endControlFlow()
                .addStatement("return total")
                .build();
    }

    private MethodSpec float8Plan() {
        return MethodSpec.methodBuilder("float8Plan")
                .addJavadoc("The plan in words, as checkpoints record it: the same text as a {@code Float8Linear} with {@link #PLAN}.\n")
                .addAnnotation(Override.class)
                .addModifiers(Modifier.PUBLIC)
                .returns(String.class)
                .addStatement("return PLAN.toString()")
                .build();
    }

    private MethodSpec module() {
        MethodSpec.Builder m = MethodSpec.methodBuilder("module")
                .addJavadoc("The module's fully qualified name and its debug sites, made once, on the first call.")
                .addModifiers(Modifier.PRIVATE)
                .returns(String.class)
                .beginControlFlow("if (module == null)")
                .addStatement("String name = name()");
        for (OperandModel operand : operands()) {
            m.addStatement("$L = new $T(name, $T.$L, $T.$L)", operand.siteField(), SITE, GEMM, operand.gemm().constant(),
                    OPERAND, operand.role().operandConstant);
        }
        return m.addStatement("module = name").endControlFlow().addStatement("return module").build();
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
