package dev.float8j.runtime.train;

import dev.float8j.runtime.nn.Parameter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Per-parameter state arrays of an optimizer, by name, and their all-or-nothing restore. */
final class OptimizerState {
    private OptimizerState() {
    }

    static Map<String, float[]> named(List<Parameter> params, String suffix, float[][] arrays) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            out.put(params.get(i).name() + "." + suffix, arrays[i]);
        }
        return out;
    }

    /** Checks every array first, then copies; a mismatch changes nothing. */
    static void restore(Map<String, float[]> current, Map<String, float[]> loaded) {
        if (!current.keySet().equals(loaded.keySet())) {
            throw new IllegalArgumentException("optimizer state names differ: expected " + current.keySet() + ", got "
                    + loaded.keySet());
        }
        for (Map.Entry<String, float[]> e : current.entrySet()) {
            float[] src = loaded.get(e.getKey());
            if (src.length != e.getValue().length) {
                throw new IllegalArgumentException("optimizer state " + e.getKey() + " holds " + e.getValue().length
                        + " values, the loaded one " + src.length);
            }
        }
        for (Map.Entry<String, float[]> e : current.entrySet()) {
            float[] src = loaded.get(e.getKey());
            System.arraycopy(src, 0, e.getValue(), 0, src.length);
        }
    }
}
