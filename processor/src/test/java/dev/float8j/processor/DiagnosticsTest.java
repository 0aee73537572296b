package dev.float8j.processor;

import static com.google.testing.compile.CompilationSubject.assertThat;

import com.google.testing.compile.Compilation;
import com.google.testing.compile.JavaFileObjects;
import javax.tools.JavaFileObject;
import org.junit.jupiter.api.Test;

/** Each misconfiguration stops the build (or warns) with a message that says what to change, on the right line. */
class DiagnosticsTest {

    /** A layer source: the annotation lines, then the class declaration. */
    static JavaFileObject layer(String annotation, String declaration) {
        return JavaFileObjects.forSourceString("test.Layer", """
                package test;

                import dev.float8j.annotations.*;
                import dev.float8j.runtime.nn.Linear;

                %s
                %s
                """.formatted(annotation, declaration));
    }

    static final String LINEAR_BODY = """
            public class Layer extends Linear {
                public Layer(int inFeatures, int outFeatures) {
                    super(inFeatures, outFeatures);
                }
            }""";

    static Compilation compileLayer(String annotation) {
        return Compiled.compile(layer(annotation, LINEAR_BODY));
    }

    /**
     * Asserts one error containing message, on the line that contains token, at token's column. javac places a
     * diagnostic on an enum constant value at the '.' before the constant's name, so tokens there start with '.'.
     */
    static void assertError(Compilation c, JavaFileObject file, String message, String token) {
        assertThat(c).failed();
        assertThat(c).hadErrorCount(1);
        assertThat(c).hadErrorContaining(message).inFile(file).onLine(line(file, token)).atColumn(column(file, token));
    }

    /** The 1-based line of the first occurrence of token. */
    static long line(JavaFileObject file, String token) {
        return position(file, token)[0];
    }

    /** The 1-based column of the first occurrence of token. */
    static long column(JavaFileObject file, String token) {
        return position(file, token)[1];
    }

    private static long[] position(JavaFileObject file, String token) {
        try {
            String[] lines = file.getCharContent(true).toString().split("\n");
            for (int i = 0; i < lines.length; i++) {
                int at = lines[i].indexOf(token);
                if (at >= 0) {
                    return new long[] {i + 1, at + 1};
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        throw new AssertionError("no " + token + " in the source");
    }

    @Test
    void classThatDoesNotExtendLinear() {
        JavaFileObject file = layer("@Float8", "public class Layer { public Layer(int in, int out) { } }");
        assertError(Compiled.compile(file), file,
                "Layer does not extend dev.float8j.runtime.nn.Linear (its superclass is java.lang.Object): @Float8 layers must extend Linear",
                "@Float8");
    }

    @Test
    void interfaceIsNotAClass() {
        JavaFileObject file = layer("@Float8", "public interface Layer { }");
        assertError(Compiled.compile(file), file,
                "@Float8 goes on a class that extends dev.float8j.runtime.nn.Linear, but Layer is an interface", "@Float8");
    }

    @Test
    void abstractClass() {
        JavaFileObject file = layer("@Float8", "public abstract " + LINEAR_BODY.substring("public ".length()));
        assertError(Compiled.compile(file), file,
                "Layer is abstract, so its FP8 version could not be instantiated: remove 'abstract' or annotate a concrete subclass",
                "@Float8");
    }

    @Test
    void innerClass() {
        JavaFileObject file = JavaFileObjects.forSourceString("test.Outer", """
                package test;

                import dev.float8j.annotations.Float8;
                import dev.float8j.runtime.nn.Linear;

                public class Outer {
                    @Float8
                    public class Layer extends Linear {
                        public Layer(int inFeatures, int outFeatures) {
                            super(inFeatures, outFeatures);
                        }
                    }
                }
                """);
        assertError(Compiled.compile(file), file,
                "Layer is an inner class, which needs an enclosing instance to be created: declare it 'static'", "@Float8");
    }

    @Test
    void staticNestedClassIsFine() {
        JavaFileObject file = JavaFileObjects.forSourceString("test.Outer", """
                package test;

                import dev.float8j.annotations.Float8;
                import dev.float8j.runtime.nn.Linear;

                public class Outer {
                    @Float8
                    public static class Layer extends Linear {
                        public Layer(int inFeatures, int outFeatures) {
                            super(inFeatures, outFeatures);
                        }
                    }
                }
                """);
        Compilation c = Compiled.compile(file);
        assertThat(c).succeededWithoutWarnings();
        assertThat(c).generatedSourceFile("test.Outer_LayerFloat8");
    }

    @Test
    void finalClass() {
        JavaFileObject file = layer("@Float8", "public final " + LINEAR_BODY.substring("public ".length()));
        assertError(Compiled.compile(file), file, "Layer is final, so the generated LayerFloat8 cannot extend it: remove 'final'",
                "@Float8");
    }

    @Test
    void noSizeConstructor() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends Linear {
                    public Layer() {
                        super(4, 4);
                    }
                }""");
        assertError(Compiled.compile(file), file,
                "Layer has no non-private constructor (int inFeatures, int outFeatures) for the generated class to call: "
                        + "add one that calls super(inFeatures, outFeatures)", "@Float8");
    }

    @Test
    void overriddenForward() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends Linear {
                    public Layer(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }

                    @Override
                    public dev.float8j.runtime.Tensor forward(dev.float8j.runtime.Tensor x) {
                        return super.forward(x);
                    }
                }""");
        assertError(Compiled.compile(file), file,
                "Layer.forward() would never run: the generated LayerFloat8 replaces it with the FP8 version; remove it, "
                        + "and put extra work in a module around the layer", "forward(");
    }

    @Test
    void overriddenSharedForward() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends Linear {
                    public Layer(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }

                    @Override
                    public dev.float8j.runtime.Tensor forward(dev.float8j.runtime.nn.SharedInput in) {
                        return super.forward(in);
                    }
                }""");
        assertError(Compiled.compile(file), file,
                "Layer.forward() would never run: the generated LayerFloat8 replaces it with the FP8 version; remove it, "
                        + "and put extra work in a module around the layer", "forward(");
    }

    @Test
    void overriddenAddingBackward() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends Linear {
                    public Layer(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }

                    @Override
                    public dev.float8j.runtime.Tensor backwardAdding(dev.float8j.runtime.Tensor dY,
                            dev.float8j.runtime.Tensor addend) {
                        return super.backwardAdding(dY, addend);
                    }
                }""");
        assertError(Compiled.compile(file), file,
                "Layer.backwardAdding() would never run: the generated LayerFloat8 replaces it with the FP8 version; "
                        + "remove it, and put extra work in a module around the layer", "backwardAdding(");
    }

    @Test
    void amaxHistoryOutOfRange() {
        JavaFileObject file = layer("@Float8(amaxHistory = 2000)", LINEAR_BODY);
        assertError(Compiled.compile(file), file, "amaxHistory = 2000 is outside what an amax history holds: use 1 to "
                + "1024 amaxes, or 0 for current scaling", "2000");
        JavaFileObject operand = layer("@Float8(output = @GemmConfig(input = @OperandConfig(amaxHistory = -2)))",
                LINEAR_BODY);
        assertError(Compiled.compile(operand), operand, "amaxHistory = -2 is outside what an amax history holds: use 1 "
                + "to 1024 amaxes, or 0 for current scaling, or -1 for the layer's amaxHistory", "-2");
    }

    @Test
    void amaxHistoryOnAnOperandThatIsNotTensorwise() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.ROWWISE, output = @GemmConfig(input = @OperandConfig("
                + "amaxHistory = 16)))", LINEAR_BODY);
        assertError(Compiled.compile(file), file, "the input of the output gemm is quantized ROWWISE, and delayed scaling "
                + "keeps one amax per cast, so it needs one scale per tensor: remove amaxHistory here, or make the "
                + "operand TENSORWISE", "16");
    }

    @Test
    void amaxHistoryOnALayerWithoutTensorwiseOperands() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.BLOCKWISE, amaxHistory = 16)", LINEAR_BODY);
        assertError(Compiled.compile(file), file, "amaxHistory = 16 reaches no operand: delayed scaling applies to "
                + "TENSORWISE operands of FP8 gemms, and this layer has none; remove amaxHistory", "16");
    }

    @Test
    void amaxReductionWithoutAHistory() {
        JavaFileObject file = layer("@Float8(amaxReduction = AmaxReduction.MOST_RECENT)", LINEAR_BODY);
        assertError(Compiled.compile(file), file, "amaxReduction = MOST_RECENT does nothing: no operand of this layer has "
                + "an amax history; set amaxHistory, or remove amaxReduction", ".MOST_RECENT");
    }

    @Test
    void amaxHistoryOnAHighPrecisionGemm() {
        JavaFileObject file = layer("@Float8(gradWeight = @GemmConfig(highPrecision = true, input = @OperandConfig("
                + "amaxHistory = 8)))", LINEAR_BODY);
        assertError(Compiled.compile(file), file, "the grad_weight gemm runs in high precision, so its input is not "
                + "quantized and amaxHistory = 8 contradicts that", "8)");
    }

    @Test
    void fastAccumulationOnGradWeight() {
        JavaFileObject file = layer("@Float8(gradWeight = @GemmConfig(fastAccumulation = true))", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the grad_weight gemm adds into the weight's F32 gradient at full precision, so it has no fast "
                        + "accumulation: remove fastAccumulation, or set it on output or gradInput", "true");
    }

    @Test
    void fastAccumulationOnAHighPrecisionGemm() {
        JavaFileObject file = layer("@Float8(gradInput = @GemmConfig(highPrecision = true, fastAccumulation = true))",
                LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the grad_input gemm runs in high precision, so it has no fast accumulation (an FP8 tensor-core "
                        + "setting): remove fastAccumulation, or quantize the gemm", "true)");
    }

    @Test
    void overloadsOfForwardAreFine() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends Linear {
                    public Layer(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }

                    public dev.float8j.runtime.Tensor forward(dev.float8j.runtime.Tensor x, int times) {
                        return forward(x);
                    }
                }""");
        assertThat(Compiled.compile(file)).succeededWithoutWarnings();
    }

    @Test
    void gemmMixingFp8AndHighPrecision() {
        JavaFileObject file = layer("@Float8(output = @GemmConfig(input = @OperandConfig(highPrecision = true)))", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the output gemm would multiply a high-precision input with an FP8 weight, which float8j does not support: "
                        + "remove highPrecision here, or keep the whole gemm in high precision with "
                        + "output = @GemmConfig(highPrecision = true)", "true");
    }

    @Test
    void blocksOnActivations() {
        JavaFileObject file = layer("""
                @Float8(granularity = Granularity.BLOCKWISE,
                        gradWeight = @GemmConfig(gradOutput = @OperandConfig(granularity = OperandGranularity.BLOCK_128X128)))""",
                LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "128x128 blocks cannot serve the gradOutput of the grad_weight gemm: activations and gradients vary token "
                        + "by token, and one outlier token would set the scale of up to 127 others; use TILE_1X128 "
                        + "(DeepSeek-V3's choice) or ROWWISE", ".BLOCK_128X128");
    }

    @Test
    void recipeContradictsGranularity() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.ROWWISE,\n        granularity = Granularity.TENSORWISE)", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "recipe ROWWISE uses ROWWISE granularity, which contradicts granularity = TENSORWISE: remove granularity, "
                        + "or set recipe = NONE", ".TENSORWISE");
    }

    @Test
    void recipeContradictsOperandGranularity() {
        JavaFileObject file = layer("""
                @Float8(recipe = Recipe.BLOCKWISE,
                        output = @GemmConfig(weight = @OperandConfig(granularity = OperandGranularity.ROWWISE)))""", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "recipe BLOCKWISE quantizes the weight of the output gemm with BLOCK_128X128, which contradicts granularity = "
                        + "ROWWISE: remove this granularity, or set recipe = NONE and say the layer's granularity explicitly",
                ".ROWWISE");
    }

    @Test
    void recipeContradictsHighPrecisionSetting() {
        JavaFileObject file = layer("""
                @Float8(recipe = Recipe.ROWWISE_GW_HP,
                        gradWeight = @GemmConfig(highPrecision = false))""", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "recipe ROWWISE_GW_HP runs grad_weight in high precision, which contradicts gradWeight highPrecision = false: "
                        + "remove highPrecision, or use recipe = ROWWISE", "false");
    }

    @Test
    void operandThatTheGemmDoesNotHave() {
        JavaFileObject file = layer("@Float8(output = @GemmConfig(gradOutput = @OperandConfig(format = Format.E5M2)))", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the output gemm (y = x * W^T) has no gradOutput operand: its operands are input and weight", "@OperandConfig");
    }

    @Test
    void quantizationSettingsOnHighPrecisionGemm() {
        JavaFileObject file = layer("""
                @Float8(recipe = Recipe.ROWWISE_GW_HP,
                        gradWeight = @GemmConfig(input = @OperandConfig(format = Format.E5M2)))""", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the grad_weight gemm runs in high precision, so its input is not quantized and format = E5M2 contradicts "
                        + "that: remove it, or run the gemm in FP8", ".E5M2");
    }

    @Test
    void mxNeedsAnMxPartner() {
        JavaFileObject file = layer("""
                @Float8(granularity = Granularity.ROWWISE,
                        output = @GemmConfig(input = @OperandConfig(granularity = OperandGranularity.MX_1X32)))""", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "the output gemm pairs an MX_1X32 input with a ROWWISE weight, but an MX gemm scales both operands in "
                        + "1x32 blocks with E8M0 scales: make both operands MX_1X32, or neither", ".MX_1X32");
    }

    @Test
    void mxWithoutPowerOfTwoScales() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.MX,\n        powerOfTwoScales = false)", LINEAR_BODY);
        assertError(Compiled.compile(file), file,
                "MX scales are powers of two (E8M0) by definition, which contradicts powerOfTwoScales = false: remove "
                        + "powerOfTwoScales", "false");
    }

    @Test
    void backwardPolicyOnTransposeableGranularityWarns() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.TENSORWISE,\n        backward = Backward.BOTH_AXES)", LINEAR_BODY);
        Compilation c = Compiled.compile(file);
        assertThat(c).succeeded();
        assertThat(c).hadWarningCount(1);
        assertThat(c).hadWarningContaining("backward = BOTH_AXES does nothing here: x is quantized TENSORWISE for both "
                        + "output and grad_weight, which is transposeable, so grad_weight reuses the forward FP8 x exactly; "
                        + "remove backward")
                .inFile(file).onLine(line(file, ".BOTH_AXES")).atColumn(column(file, ".BOTH_AXES"));
        assertThat(c).generatedSourceFile("test.LayerFloat8");
    }

    @Test
    void requantizeOnTransposeableGranularityWarns() {
        JavaFileObject file = layer("@Float8(backward = Backward.REQUANTIZE)", LINEAR_BODY);
        Compilation c = Compiled.compile(file);
        assertThat(c).succeeded();
        assertThat(c).hadWarningContaining("backward = REQUANTIZE does nothing here").inFile(file)
                .onLine(line(file, ".REQUANTIZE")).atColumn(column(file, ".REQUANTIZE"));
    }

    @Test
    void backwardPolicyWithHighPrecisionGradWeightWarns() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.ROWWISE_GW_HP,\n        backward = Backward.REQUANTIZE)", LINEAR_BODY);
        Compilation c = Compiled.compile(file);
        assertThat(c).succeeded();
        assertThat(c).hadWarningContaining("backward = REQUANTIZE does nothing here: the grad_weight gemm runs in high "
                + "precision, so forward saves x in high precision; remove backward").inFile(file)
                .onLine(line(file, ".REQUANTIZE")).atColumn(column(file, ".REQUANTIZE"));
    }

    @Test
    void everyGemmInHighPrecisionWarns() {
        JavaFileObject file = layer("""
                @Float8(output = @GemmConfig(highPrecision = true), gradInput = @GemmConfig(highPrecision = true),
                        gradWeight = @GemmConfig(highPrecision = true))""", LINEAR_BODY);
        Compilation c = Compiled.compile(file);
        assertThat(c).succeeded();
        assertThat(c).hadWarningContaining("every gemm of Layer runs in high precision, so @Float8 only adds overhead")
                .inFile(file).onLine(line(file, "@Float8")).atColumn(1);
    }

    @Test
    void unresolvedValuesAreLeftToJavac() {
        JavaFileObject file = layer("@Float8(recipe = Recipe.ROWWISE_PLUS)", LINEAR_BODY);
        Compilation c = Compiled.compile(file);
        assertThat(c).failed();
        assertThat(c).hadErrorCount(1);
        assertThat(c).hadErrorContaining("an enum annotation value must be an enum constant").inFile(file)
                .onLine(line(file, "ROWWISE_PLUS"));
    }

    @Test
    void superclassWrittenByAnotherProcessorInALaterRoundIsWaitedFor() {
        JavaFileObject file = layer("@Float8", """
                public class Layer extends LaterBase {
                    public Layer(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }
                }""");
        Compilation c = com.google.testing.compile.Compiler.javac()
                .withProcessors(new BaseWriter(), new Float8Processor())
                .compile(file);
        assertThat(c).succeededWithoutWarnings();
        assertThat(c).generatedSourceFile("test.LayerFloat8");
    }

    /** Writes test.LaterBase, a Linear, in the first round, as some other processor might. */
    static final class BaseWriter extends javax.annotation.processing.AbstractProcessor {
        private boolean written;

        @Override
        public java.util.Set<String> getSupportedAnnotationTypes() {
            return java.util.Set.of("*");
        }

        @Override
        public javax.lang.model.SourceVersion getSupportedSourceVersion() {
            return javax.lang.model.SourceVersion.latestSupported();
        }

        @Override
        public boolean process(java.util.Set<? extends javax.lang.model.element.TypeElement> annotations,
                javax.annotation.processing.RoundEnvironment round) {
            if (!written) {
                written = true;
                try (java.io.Writer w = processingEnv.getFiler().createSourceFile("test.LaterBase").openWriter()) {
                    w.write("package test; public class LaterBase extends dev.float8j.runtime.nn.Linear {"
                            + " public LaterBase(int i, int o) { super(i, o); } }");
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            return false;
        }
    }
}
