package dev.float8j.runtime.nn;

import dev.float8j.annotations.Float8;
import dev.float8j.plan.Float8Plan;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;

/**
 * Finds the class the {@code @Float8} processor wrote for an annotated layer: for {@code com.acme.FeedForwardUp} it is
 * {@code com.acme.FeedForwardUpFloat8}; a nested {@code com.acme.Model.Up} gives {@code com.acme.Model_UpFloat8}.
 */
public final class Float8Layers {
    private Float8Layers() {
    }

    /** A new FP8 layer of the annotated type with the given sizes: an instance of its generated subclass. */
    public static <T extends Linear> T create(Class<T> annotated, int inFeatures, int outFeatures) {
        Class<? extends T> generated = generatedClass(annotated);
        Constructor<? extends T> constructor;
        try {
            constructor = generated.getDeclaredConstructor(int.class, int.class);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(generated.getName() + " has no public (int, int) constructor; rebuild with "
                    + "the float8j processor of the same version as the runtime", e);
        }
        return construct(generated, constructor, inFeatures, outFeatures);
    }

    /**
     * A new FP8 layer of the annotated type with a bias when bias is true. The annotated class asks for this by
     * declaring a constructor {@code (int inFeatures, int outFeatures, boolean bias)} that calls
     * {@code super(inFeatures, outFeatures, bias)}; the processor then gives the generated class the same one.
     */
    public static <T extends Linear> T create(Class<T> annotated, int inFeatures, int outFeatures, boolean bias) {
        Class<? extends T> generated = generatedClass(annotated);
        Constructor<? extends T> constructor;
        try {
            constructor = generated.getDeclaredConstructor(int.class, int.class, boolean.class);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(annotated.getSimpleName() + " takes no bias: declare a constructor ("
                    + "int inFeatures, int outFeatures, boolean bias) in " + annotated.getName() + " that calls super("
                    + "inFeatures, outFeatures, bias), and rebuild so that " + generated.getSimpleName() + " gets one", e);
        }
        return construct(generated, constructor, inFeatures, outFeatures, bias);
    }

    private static <T> T construct(Class<?> generated, Constructor<T> constructor, Object... args) {
        try {
            return constructor.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("constructing " + generated.getName() + " failed", e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot construct " + generated.getName() + ": " + e, e);
        }
    }

    /**
     * Fails when type is itself annotated with {@code @Float8}: such a class built with {@code new} would quietly
     * run every gemm in high precision. Its generated subclass carries no annotation, so layers made by
     * {@link #create} pass. Linear's constructor calls this; it costs one cached annotation lookup per layer made.
     */
    static void refuseUngenerated(Class<?> type) {
        if (type.isAnnotationPresent(Float8.class)) {
            String simple = type.getSimpleName();
            throw new IllegalStateException("new " + simple + "(...) would run in high precision: " + type.getName()
                    + " is @Float8, so create it with Float8Layers.create(" + simple + ".class, in, out), which gives the"
                    + " generated " + generatedName(type).substring(type.getPackageName().isEmpty() ? 0
                            : type.getPackageName().length() + 1) + " (for high precision use new Linear(in, out))");
        }
    }

    /** The plan the processor resolved for the annotated type (the generated class's PLAN). */
    public static Float8Plan plan(Class<? extends Linear> annotated) {
        Class<?> generated = generatedClass(annotated);
        try {
            return (Float8Plan) generated.getField("PLAN").get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(generated.getName() + " has no public static PLAN; rebuild with the float8j "
                    + "processor of the same version as the runtime", e);
        }
    }

    /** The name the processor gives the generated class of annotated. */
    public static String generatedName(Class<?> annotated) {
        String packageName = annotated.getPackageName();
        String binary = annotated.getName();
        String local = packageName.isEmpty() ? binary : binary.substring(packageName.length() + 1);
        return (packageName.isEmpty() ? "" : packageName + ".") + local.replace('$', '_') + "Float8";
    }

    private static <T> Class<? extends T> generatedClass(Class<T> annotated) {
        String name = generatedName(annotated);
        Class<?> generated;
        try {
            generated = Class.forName(name, true, annotated.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("no generated class " + name + " for " + annotated.getName()
                    + ": is it annotated with @Float8, and did the float8j processor run? On JDK 23+ javac runs no "
                    + "processor it finds on the classpath: name dev.float8j:float8j-processor in the compiler's "
                    + "annotationProcessorPaths (Maven) or annotationProcessor configuration (Gradle); samples/pom.xml "
                    + "shows how", e);
        }
        if (!annotated.isAssignableFrom(generated)) {
            throw new IllegalStateException(name + " does not extend " + annotated.getName()
                    + "; it was not written by the float8j processor");
        }
        return generated.asSubclass(annotated);
    }
}
