package dev.float8j.processor;

import static com.google.testing.compile.CompilationSubject.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.testing.compile.Compilation;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * The generated source of each recipe and each backward policy, compared with a checked-in, reviewed copy.
 * After an intended change, regenerate with {@code -Dfloat8j.golden.update=true} and review the diff.
 */
class GoldenSourceTest {
    static final String[] CASES = {"Tensorwise", "Rowwise", "RowwiseGwHp", "Blockwise", "Mx", "RowwiseRequantize",
        "RowwiseBothAxes", "CustomOverrides", "OutputHighPrecision", "RowwiseBias", "TensorwiseDelayed"};

    @ParameterizedTest
    @FieldSource("CASES")
    void generatedSourceMatchesGolden(String name) throws IOException {
        Compilation compilation = Compiled.compile(Compiled.golden(name));
        assertThat(compilation).succeededWithoutWarnings();
        String generated = Compiled.generatedSource(compilation, "golden." + name + "Float8");
        if (Boolean.getBoolean("float8j.golden.update")) {
            Path golden = Path.of(System.getProperty("basedir", "."), "src/test/resources/golden", name + "Float8.java.txt");
            Files.writeString(golden, generated, StandardCharsets.UTF_8);
        }
        assertEquals(Compiled.resource("golden/" + name + "Float8.java.txt"), generated,
                "generated source for golden/" + name + ".java differs from golden/" + name + "Float8.java.txt");
    }
}
