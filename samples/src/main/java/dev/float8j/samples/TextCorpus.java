package dev.float8j.samples;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Text as character ids: the vocabulary is the sorted set of distinct characters. The first 90% is for
 * training, the rest for validation.
 */
public final class TextCorpus {
    private final String description;
    private final char[] vocabulary;
    private final int[] tokens;
    private final int trainEnd;

    public TextCorpus(String description, String text) {
        if (text.length() < 1000) {
            throw new IllegalArgumentException(description + " holds " + text.length() + " characters; need at least 1000");
        }
        TreeSet<Character> distinct = new TreeSet<>();
        for (int i = 0; i < text.length(); i++) {
            distinct.add(text.charAt(i));
        }
        this.description = description;
        this.vocabulary = new char[distinct.size()];
        int v = 0;
        for (char c : distinct) {
            vocabulary[v++] = c;
        }
        this.tokens = new int[text.length()];
        for (int i = 0; i < text.length(); i++) {
            tokens[i] = Arrays.binarySearch(vocabulary, text.charAt(i));
        }
        this.trainEnd = (int) (text.length() * 0.9);
    }

    /** A UTF-8 text file. */
    public static TextCorpus fromFile(Path file) throws IOException {
        return new TextCorpus(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
    }

    private static final String[] SUBJECTS = {"the cat", "a dog", "my friend", "the old man", "a small bird", "the teacher",
        "her brother", "the farmer", "a young girl", "the captain", "our neighbour", "the baker"};
    private static final String[] VERBS = {"sees", "likes", "finds", "follows", "paints", "carries", "wants", "watches",
        "remembers", "builds", "sells", "forgets"};
    private static final String[] OBJECTS = {"the red ball", "a warm bread", "the river", "an old book", "the blue door",
        "a quiet garden", "the long road", "a wooden boat", "the green hill", "a silver coin", "the night sky", "a letter"};
    private static final String[] ENDINGS = {"", " in the morning", " at night", " every day", " near the house",
        " with great care", " again", " before dinner"};

    /**
     * A deterministic English-like text from a small grammar (subject, verb, object, optional ending,
     * sometimes joined by "and"), about the given number of characters. It needs no file and no download.
     */
    public static TextCorpus generated(long seed, int characters) {
        SplittableRandom random = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder(characters + 200);
        int sentencesOnLine = 0;
        while (sb.length() < characters) {
            String sentence = clause(random);
            if (random.nextInt(4) == 0) {
                sentence += " and " + clause(random);
            }
            sb.append(Character.toUpperCase(sentence.charAt(0))).append(sentence, 1, sentence.length()).append('.');
            if (++sentencesOnLine == 4) {
                sb.append('\n');
                sentencesOnLine = 0;
            } else {
                sb.append(' ');
            }
        }
        return new TextCorpus("generated English-like text (seed " + seed + ", " + sb.length() + " characters)", sb.toString());
    }

    private static String clause(SplittableRandom random) {
        return pick(SUBJECTS, random) + " " + pick(VERBS, random) + " " + pick(OBJECTS, random) + pick(ENDINGS, random);
    }

    private static String pick(String[] words, SplittableRandom random) {
        return words[random.nextInt(words.length)];
    }

    public String description() {
        return description;
    }

    public int vocabularySize() {
        return vocabulary.length;
    }

    public int length() {
        return tokens.length;
    }

    /** Token i of the whole text. */
    public int token(int i) {
        return tokens[i];
    }

    /** The first token of the validation part (= the training part's length). */
    public int trainEnd() {
        return trainEnd;
    }

    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder(ids.length);
        for (int id : ids) {
            sb.append(vocabulary[id]);
        }
        return sb.toString();
    }
}
