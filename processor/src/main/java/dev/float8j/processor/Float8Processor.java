package dev.float8j.processor;

import com.google.auto.service.AutoService;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import javax.annotation.processing.AbstractProcessor;
import javax.annotation.processing.FilerException;
import javax.annotation.processing.ProcessingEnvironment;
import javax.annotation.processing.Processor;
import javax.annotation.processing.RoundEnvironment;
import javax.lang.model.SourceVersion;
import javax.lang.model.element.AnnotationMirror;
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
    /** The layer each generated class was written for, by qualified name, so that two layers never claim one name. */
    private final Map<String, String> generatedBy = new HashMap<>();

    @Override
    public synchronized void init(ProcessingEnvironment env) {
        super.init(env);
        LocalLayerCheck.install(env);
    }

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
            if (layer.isPresent() && claimGeneratedName(layer.get())) {
                try {
                    new LayerWriter(layer.get()).write().writeTo(processingEnv.getFiler());
                } catch (FilerException e) {
                    // javac's "Attempt to recreate a file": a source of this compilation declares that class already
                    report(Message.GENERATED_NAME_TAKEN, layer.get(), layer.get().generated(),
                            layer.get().type().getSimpleName(), layer.get().generated());
                } catch (IOException e) {
                    processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR,
                            "could not write " + layer.get().generated() + ": " + e.getMessage(), element);
                }
            }
        }
        return false;
    }

    /** True if no other layer of this compilation generates the same class; otherwise reports the clash. */
    private boolean claimGeneratedName(LayerModel layer) {
        String generated = layer.generated().canonicalName();
        String other = generatedBy.putIfAbsent(generated, layer.annotated().canonicalName());
        if (other == null || other.equals(layer.annotated().canonicalName())) {
            return true;
        }
        report(Message.GENERATED_NAME_CLASH, layer, other, layer.annotated().canonicalName(), generated);
        return false;
    }

    /** An error on the layer's {@code @Float8}. */
    private void report(Message message, LayerModel layer, Object... args) {
        AnnotationMirror float8 = layer.type().getAnnotationMirrors().stream()
                .filter(m -> ((TypeElement) m.getAnnotationType().asElement()).getQualifiedName()
                        .contentEquals(LayerReader.FLOAT8))
                .findFirst().orElse(null);
        processingEnv.getMessager().printMessage(message.kind, message.format(args), layer.type(), float8);
    }
}
