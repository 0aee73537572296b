package dev.float8j.processor;

import static com.google.testing.compile.Compiler.javac;

import com.google.testing.compile.Compilation;
import com.google.testing.compile.JavaFileObjects;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import javax.tools.JavaFileObject;

/** Sources compiled with the float8j processor in the test, and a class loader over what came out. */
final class Compiled {
    private Compiled() {
    }

    static Compilation compile(JavaFileObject... sources) {
        return javac().withProcessors(new Float8Processor()).compile(sources);
    }

    /** A source from src/test/resources/golden, as class golden.name. */
    static JavaFileObject golden(String name) {
        return JavaFileObjects.forSourceString("golden." + name, resource("golden/" + name + ".java"));
    }

    static String resource(String path) {
        try (InputStream in = Compiled.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalArgumentException("no test resource " + path);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The text of a generated source file, by class name. */
    static String generatedSource(Compilation compilation, String className) {
        JavaFileObject file = compilation.generatedSourceFile(className)
                .orElseThrow(() -> new AssertionError("no generated source " + className + "; diagnostics: "
                        + compilation.diagnostics()));
        try {
            return file.getCharContent(true).toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Loads the classes a compilation wrote, with the test's class path (float8j runtime) as parent. */
    static ClassLoader loader(Compilation compilation) {
        Map<String, byte[]> classes = new HashMap<>();
        for (JavaFileObject file : compilation.generatedFiles()) {
            if (file.getKind() == JavaFileObject.Kind.CLASS) {
                String path = file.toUri().getPath();
                String name = path.substring(path.indexOf("CLASS_OUTPUT/") + "CLASS_OUTPUT/".length(), path.length() - 6)
                        .replace('/', '.');
                try (InputStream in = file.openInputStream()) {
                    classes.put(name, in.readAllBytes());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return new ClassLoader(Compiled.class.getClassLoader()) {
            @Override
            protected Class<?> findClass(String name) throws ClassNotFoundException {
                byte[] bytes = classes.get(name);
                if (bytes == null) {
                    throw new ClassNotFoundException(name);
                }
                return defineClass(name, bytes, 0, bytes.length);
            }
        };
    }
}
