package dev.float8j.runtime.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.float8j.annotations.Float8;
import dev.float8j.annotations.Recipe;
import org.junit.jupiter.api.Test;

class AnnotatedWithNewTest {

    /** Annotated but compiled here without the processor: what `new` on any @Float8 class gives. */
    @Float8(recipe = Recipe.ROWWISE)
    static class Up extends Linear {
        Up(int in, int out) {
            super(in, out);
        }
    }

    /** Stands in for the processor's subclass: it carries no annotation of its own. */
    static final class UpLikeGenerated extends Up {
        UpLikeGenerated(int in, int out) {
            super(in, out);
        }
    }

    @Test
    void constructingAnAnnotatedLayerWithNewFailsAndSaysWhatToDo() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Up(4, 4));
        assertEquals("new Up(...) would run in high precision: dev.float8j.runtime.nn.AnnotatedWithNewTest$Up is @Float8,"
                + " so create it with Float8Layers.create(Up.class, in, out), which gives the generated"
                + " AnnotatedWithNewTest_UpFloat8 (for high precision use new Linear(in, out))", e.getMessage());
    }

    @Test
    void aSubclassOfTheAnnotatedLayerIsAllowed() {
        assertEquals(4, new UpLikeGenerated(4, 3).inFeatures());
    }
}
