package dev.float8j.processor;

import static com.google.testing.compile.CompilationSubject.assertThat;
import static dev.float8j.processor.DiagnosticsTest.assertError;

import com.google.testing.compile.Compilation;
import com.google.testing.compile.JavaFileObjects;
import javax.tools.JavaFileObject;
import org.junit.jupiter.api.Test;

/** Layers the processor cannot give an FP8 class of their own: each is an error on its @Float8, never silence. */
class LayerPlacementTest {

    @Test
    void aLocalClassIsAnErrorOnItsAnnotation() {
        JavaFileObject file = JavaFileObjects.forSourceString("test.Holder", """
                package test;

                import dev.float8j.annotations.Float8;
                import dev.float8j.runtime.nn.Linear;

                public class Holder {
                    static Linear make() {
                        @Float8
                        class Local extends Linear {
                            Local(int inFeatures, int outFeatures) {
                                super(inFeatures, outFeatures);
                            }
                        }
                        return new Local(2, 3);
                    }
                }
                """);
        assertError(Compiled.compile(file), file,
                "Local is a local or anonymous class, which no generated class can extend: make it a top-level or static "
                        + "nested class", "@Float8");
    }

    @Test
    void aLocalClassInsideANestedClassIsReportedOnce() {
        JavaFileObject file = JavaFileObjects.forSourceString("test.Holder", """
                package test;

                import dev.float8j.runtime.nn.Linear;

                public class Holder {
                    static class Inner {
                        Linear make() {
                            @dev.float8j.annotations.Float8
                            class Local extends Linear {
                                Local(int inFeatures, int outFeatures) {
                                    super(inFeatures, outFeatures);
                                }
                            }
                            return new Local(2, 3);
                        }
                    }
                }
                """);
        assertError(Compiled.compile(file), file, "Local is a local or anonymous class", "@dev.float8j.annotations.Float8");
    }

    private static final String BODY = """
                    public %s(int inFeatures, int outFeatures) {
                        super(inFeatures, outFeatures);
                    }
            """;

    @Test
    void twoLayersWhoseGeneratedNamesClashAreAnError() {
        // Outer.A_B and Outer_A.B both flatten to Outer_A_B, so both would generate Outer_A_BFloat8
        JavaFileObject first = JavaFileObjects.forSourceString("test.Outer", """
                package test;

                public class Outer {
                    @dev.float8j.annotations.Float8
                    public static class A_B extends dev.float8j.runtime.nn.Linear {
                %s    }
                }
                """.formatted(BODY.formatted("A_B")));
        JavaFileObject second = JavaFileObjects.forSourceString("test.Outer_A", """
                package test;

                public class Outer_A {
                    @dev.float8j.annotations.Float8
                    public static class B extends dev.float8j.runtime.nn.Linear {
                %s    }
                }
                """.formatted(BODY.formatted("B")));
        Compilation c = Compiled.compile(first, second);
        assertThat(c).failed();
        assertThat(c).hadErrorCount(1);
        assertThat(c).hadErrorContaining("test.Outer.A_B and test.Outer_A.B would both generate test.Outer_A_BFloat8: "
                + "rename one of them").inFile(second).onLine(4);
    }

    @Test
    void aGeneratedNameTakenByAClassOfTheCompilationIsAnError() {
        JavaFileObject layer = DiagnosticsTest.layer("@Float8", DiagnosticsTest.LINEAR_BODY);
        JavaFileObject taken = JavaFileObjects.forSourceString("test.LayerFloat8", """
                package test;

                public class LayerFloat8 {
                }
                """);
        Compilation c = Compiled.compile(layer, taken);
        assertError(c, layer, "the generated class test.LayerFloat8 would replace the class of that name already in "
                + "this compilation: rename Layer or test.LayerFloat8", "@Float8");
    }
}
