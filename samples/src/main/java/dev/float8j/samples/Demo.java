package dev.float8j.samples;

/** The main job of ./float8j demo. */
public final class Demo {
    private Demo() {
    }

    public static void main(String[] args) {
        System.out.println("float8j demo: nothing to show yet");
    }
}
