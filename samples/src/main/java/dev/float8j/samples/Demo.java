package dev.float8j.samples;

/** The main job of ./float8j demo: for now, the quantization error table (see {@link QuantizationErrorTable}). */
public final class Demo {
    private Demo() {
    }

    public static void main(String[] args) {
        QuantizationErrorTable.main(args);
    }
}
