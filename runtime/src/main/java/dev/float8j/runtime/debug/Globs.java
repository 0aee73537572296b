package dev.float8j.runtime.debug;

/** Module-name patterns: '*' matches any run of characters (dots included), '?' one character. */
final class Globs {
    private Globs() {
    }

    static boolean matches(String glob, String name) {
        return matches(glob, 0, name, 0);
    }

    private static boolean matches(String glob, int gi, String name, int ni) {
        while (gi < glob.length()) {
            char g = glob.charAt(gi);
            if (g == '*') {
                for (int k = ni; k <= name.length(); k++) {
                    if (matches(glob, gi + 1, name, k)) {
                        return true;
                    }
                }
                return false;
            }
            if (ni >= name.length() || (g != '?' && g != name.charAt(ni))) {
                return false;
            }
            gi++;
            ni++;
        }
        return ni == name.length();
    }
}
