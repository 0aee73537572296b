package dev.float8j.processor;

import com.google.auto.service.AutoService;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import javax.annotation.processing.AbstractProcessor;
import javax.annotation.processing.Processor;
import javax.annotation.processing.RoundEnvironment;
import javax.lang.model.SourceVersion;
import javax.lang.model.element.Element;
import javax.lang.model.element.TypeElement;
import javax.tools.Diagnostic;

/**
 * Checks every {@code @Float8} layer and writes its FP8 subclass, {@code <Name>Float8}, in the same package.
 * Each layer is read into a {@link LayerModel} first; nothing is written for a layer with an error. Isolating
 * for Gradle: one generated file per annotated class, which is its only originating element.
 */
@AutoService(Processor.class)
public final class Float8Processor extends AbstractProcessor {
    /** Layers whose superclass or annotation was not resolved yet, by qualified name, for the next round. */
    private final Set<String> deferred = new LinkedHashSet<>();

    @Override
    public Set<String> getSupportedAnnotationTypes() {
        return Set.of(LayerReader.FLOAT8);
    }

    @Override
    public SourceVersion getSupportedSourceVersion() {
        return SourceVersion.latestSupported();
    }

    @Override
    public boolean process(Set<? extends TypeElement> annotations, RoundEnvironment round) {
        TypeElement float8 = processingEnv.getElementUtils().getTypeElement(LayerReader.FLOAT8);
        if (float8 == null) {
            return false;
        }
        LayerReader reader = new LayerReader(processingEnv);
        List<Element> elements = new ArrayList<>(round.getElementsAnnotatedWith(float8));
        for (String name : deferred) {
            elements.add(processingEnv.getElementUtils().getTypeElement(name));
        }
        deferred.clear();
        for (Element element : elements) {
            if (!reader.resolved(element)) {
                // javac reports what is unresolved if no later round resolves it
                if (!round.processingOver() && element instanceof TypeElement t) {
                    deferred.add(t.getQualifiedName().toString());
                }
                continue;
            }
            Optional<LayerModel> layer = reader.read(element);
            if (layer.isPresent()) {
                try {
                    new LayerWriter(layer.get()).write().writeTo(processingEnv.getFiler());
                } catch (IOException e) {
                    processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR,
                            "could not write " + layer.get().generated() + ": " + e.getMessage(), element);
                }
            }
        }
        return false;
    }
}
