package dev.float8j.samples;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Activation;
import dev.float8j.runtime.nn.Embedding;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.nn.Sequential;

/**
 * A small character-level language model that predicts the next character from the previous {@code context}:
 * the context's embeddings, concatenated, go through a projection, a stack of residual MLP blocks and a head.
 *
 * <pre>
 * embed            [B·context] -&gt; [B·context, embedDim]    (viewed as [B, context·embedDim])
 * proj             Linear(context·embedDim, width)
 * blocks.N         x + down(GELU(up(norm(x))))          up: Linear(width, hidden), down: Linear(hidden, width)
 * norm, head       RMSNorm(width), Linear(width, vocabulary) -&gt; logits [B, vocabulary]
 * </pre>
 *
 * Every Linear comes from the {@link LinearFactory}, by name, so a recipe picks FP8 layers without
 * changing the model.
 */
public final class CharModel extends Module {

    /** The sizes of the model. */
    public record Config(int vocabulary, int context, int embedDim, int width, int hidden, int blocks) {
        public Config {
            if (vocabulary < 2 || context < 1 || embedDim < 1 || width < 1 || hidden < 1 || blocks < 0) {
                throw new IllegalArgumentException("invalid model sizes: " + this);
            }
        }
    }

    private final Config config;
    private final Embedding embed;
    private Linear proj;
    private final Sequential blocks;
    private final RMSNorm norm;
    private Linear head;

    public CharModel(Config config, LinearFactory linears) {
        this.config = config;
        this.embed = child("embed", new Embedding(config.vocabulary(), config.embedDim()));
        this.proj = child("proj", linears.create("proj", config.context() * config.embedDim(), config.width()));
        this.blocks = child("blocks", new Sequential());
        for (int i = 0; i < config.blocks(); i++) {
            blocks.add(new MlpBlock("blocks." + i, config.width(), config.hidden(), Activation.Kind.GELU, linears));
        }
        this.norm = child("norm", new RMSNorm(config.width()));
        this.head = child("head", linears.create("head", config.width(), config.vocabulary()));
    }

    public Config config() {
        return config;
    }

    /** Logits [batch, vocabulary] for contexts given as batch·context token ids, row after row. */
    public Tensor forward(int[] contexts) {
        if (contexts.length % config.context() != 0) {
            throw new IllegalArgumentException(contexts.length + " tokens do not make whole contexts of " + config.context());
        }
        int batch = contexts.length / config.context();
        Tensor e = embed.forward(contexts).reshape(batch, config.context() * config.embedDim());
        return head.forward(norm.forward(blocks.forward(proj.forward(e))));
    }

    /** Back-propagates the gradient of the logits into every parameter's gradient. */
    public void backward(Tensor gradLogits) {
        Tensor g = proj.backward(blocks.backward(norm.backward(head.backward(gradLogits))));
        embed.backward(g.reshape(g.size() / config.embedDim(), config.embedDim()));
    }

    /** Bytes the linear layers hold for backward right now (call between forward and backward). */
    public long savedBytes() {
        long total = 0;
        for (Module m : modules()) {
            if (m instanceof Linear l) {
                total += l.savedBytes();
            }
        }
        return total;
    }
}
