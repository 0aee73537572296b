package dev.float8j.processor;

import com.sun.source.tree.AnnotationTree;
import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TaskEvent;
import com.sun.source.util.TaskListener;
import com.sun.source.util.TreePath;
import com.sun.source.util.TreePathScanner;
import com.sun.source.util.Trees;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import javax.annotation.processing.ProcessingEnvironment;
import javax.lang.model.element.Element;
import javax.lang.model.element.NestingKind;
import javax.lang.model.element.TypeElement;

/**
 * Reports {@code @Float8} on a local class, which annotation processing never sees: javac hands processors the
 * classes of packages and classes, not those declared in a method body, so without this check such a layer would get
 * no FP8 class and no word why. It runs once javac has analyzed the class holding the local one, and reports
 * {@link Message#LOCAL_CLASS} on the annotation. It needs javac's tree API; under another compiler, or a build tool
 * that wraps javac's processing environment, it checks nothing. (An anonymous class cannot carry {@code @Float8}:
 * javac itself refuses the annotation there.)
 */
final class LocalLayerCheck implements TaskListener {
    private final Trees trees;
    /** Annotations already reported: javac may analyze a nested class apart from the class that holds it. */
    private final Set<AnnotationTree> reported = Collections.newSetFromMap(new IdentityHashMap<>());

    private LocalLayerCheck(Trees trees) {
        this.trees = trees;
    }

    /** Registers the check with the compilation that env belongs to, where javac allows it. */
    static void install(ProcessingEnvironment env) {
        JavacTask task;
        Trees trees;
        try {
            task = JavacTask.instance(env);
            trees = Trees.instance(env);
        } catch (IllegalArgumentException | LinkageError notJavac) {
            return;
        }
        task.addTaskListener(new LocalLayerCheck(trees));
    }

    @Override
    public void finished(TaskEvent event) {
        if (event.getKind() != TaskEvent.Kind.ANALYZE || event.getTypeElement() == null) {
            return;
        }
        TreePath analyzed = trees.getPath(event.getTypeElement());
        if (analyzed != null) {
            new LocalClasses(event.getCompilationUnit()).scan(analyzed, null);
        }
    }

    /** Visits every class in a tree and reports {@code @Float8} on the local ones. */
    private final class LocalClasses extends TreePathScanner<Void, Void> {
        private final CompilationUnitTree unit;

        LocalClasses(CompilationUnitTree unit) {
            this.unit = unit;
        }

        @Override
        public Void visitClass(ClassTree node, Void unused) {
            if (trees.getElement(getCurrentPath()) instanceof TypeElement type && type.getNestingKind() == NestingKind.LOCAL) {
                for (AnnotationTree annotation : node.getModifiers().getAnnotations()) {
                    if (isFloat8(annotation) && reported.add(annotation)) {
                        trees.printMessage(Message.LOCAL_CLASS.kind, Message.LOCAL_CLASS.format(type.getSimpleName()),
                                annotation, unit);
                    }
                }
            }
            return super.visitClass(node, unused);
        }

        private boolean isFloat8(AnnotationTree annotation) {
            Element type = trees.getElement(new TreePath(getCurrentPath(), annotation.getAnnotationType()));
            return type instanceof TypeElement t && t.getQualifiedName().contentEquals(LayerReader.FLOAT8);
        }
    }
}
