package dev.float8j.runtime.nn.transformer;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.nn.Embedding;
import dev.float8j.runtime.nn.Linear;
import dev.float8j.runtime.nn.LinearFactory;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.ModuleList;
import dev.float8j.runtime.nn.Ops;
import dev.float8j.runtime.nn.RMSNorm;
import dev.float8j.runtime.ops.AttentionShape;
import dev.float8j.runtime.ops.LossResult;
import dev.float8j.runtime.ops.TokenIds;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * A Llama-style decoder: token embedding, pre-norm blocks of grouped-query attention with rotary positions and a
 * SwiGLU feed-forward, a final RMSNorm and an output head, trained with cross-entropy on the next token.
 *
 * <pre>
 * embed                      [batch · seq] ids -&gt; [batch · seq, dim]
 * blocks.N.attn_norm, .attn  q, k, v, o: Linear (k and v of width kvHeads · headDim)
 * blocks.N.mlp_norm, .mlp    gate, up: Linear(dim, ffn), down: Linear(ffn, dim)
 * norm, head                 RMSNorm(dim), Linear(dim, vocabulary) -&gt; logits [batch · seq, vocabulary]
 * </pre>
 *
 * Every linear layer comes from the {@link LinearFactory} under its fully qualified name (e.g.
 * {@code blocks.0.attn.q}, {@code head}), so each can have its own FP8 plan. Activations (the residual stream,
 * every layer's input and output, the logits) are in the chosen dtype; parameters are F32. Every non-gemm step
 * runs through the {@link dev.float8j.runtime.ops.ModelOps} where the tensors live, so after
 * {@link #moveTo} a device backend runs the whole step there.
 */
public final class LlamaModel extends Module {
    private final LlamaConfig config;
    private final DType activations;
    private final Embedding embed;
    private final ModuleList<DecoderBlock> blocks;
    private final RMSNorm norm;
    private final Linear head;

    public LlamaModel(LlamaConfig config, DType activations, LinearFactory linears) {
        this.config = config;
        this.activations = activations;
        this.embed = child("embed", new Embedding(config.vocabulary(), config.dim()));
        this.blocks = child("blocks", new ModuleList<>());
        for (int i = 0; i < config.layers(); i++) {
            blocks.add(new DecoderBlock("blocks." + i, config, linears));
        }
        this.norm = child("norm", new RMSNorm(config.dim(), config.normEps()));
        this.head = child("head", linears.create("head", config.dim(), config.vocabulary()));
    }

    public LlamaConfig config() {
        return config;
    }

    public DType activations() {
        return activations;
    }

    /** A batch of token ids (batch-major, batch · seq of them) where the model's parameters live. */
    public TokenIds tokens(int[] ids, int batch, int seq) {
        return embed.ops().tokens(ids, batch, seq);
    }

    /** Logits [batch · seq, vocabulary] in the activation dtype; each position sees itself and those before. */
    public Tensor forward(TokenIds inputs) {
        return forward(inputs, null);
    }

    /**
     * {@link #forward(TokenIds)} that also shows each module's output to outputsOrNull by name ({@code embed},
     * {@code blocks.N}, {@code norm}, {@code head}) as it is made: for diagnosing where a NaN first appears. Each
     * but the logits is released once the next module used it: copy what must be kept.
     */
    public Tensor forward(TokenIds inputs, BiConsumer<String, Tensor> outputsOrNull) {
        if (inputs.seq() > config.seq()) {
            throw new IllegalArgumentException("sequences of " + inputs.seq() + " tokens are longer than the model's "
                    + config.seq());
        }
        AttentionShape shape = new AttentionShape(inputs.batch(), inputs.seq(), config.heads(), config.kvHeads(),
                config.headDim());
        // each block's last residual sum is made by the norm after it, as that norm reads it (ResidualSum)
        ResidualSum stream = new ResidualSum(show(outputsOrNull, embed, embed.forward(inputs, activations)), null);
        for (DecoderBlock block : blocks.items()) {
            ResidualSum next = block.forward(stream, shape);
            Ops.release(stream.stream());
            stream = next;
            if (outputsOrNull != null) {
                // the block's output made here instead, so that the caller sees it
                Tensor y = Ops.where(stream.stream()).add(stream.stream(), stream.branch());
                Ops.release(stream.stream(), stream.branch());
                stream = new ResidualSum(show(outputsOrNull, block, y), null);
            }
        }
        RMSNorm.SumAndNorm last = DecoderBlock.normed(norm, stream);
        Ops.release(stream.stream());
        if (last.sum() != stream.stream()) {
            Ops.release(last.sum());
        }
        Tensor normed = show(outputsOrNull, norm, last.y());
        Tensor logits = show(outputsOrNull, head, head.forward(normed));
        Ops.release(normed);
        return logits;
    }

    private static Tensor show(BiConsumer<String, Tensor> outputs, Module module, Tensor y) {
        if (outputs != null) {
            outputs.accept(module.name(), y);
        }
        return y;
    }

    /**
     * The forward pass and the mean cross-entropy against targets, with the logits' gradient, in one step. The
     * logits are released once the loss is known; pass the result to {@link #backward(LossResult)}.
     */
    public LossResult forwardLoss(TokenIds inputs, TokenIds targets) {
        Tensor logits = forward(inputs);
        LossResult loss = Ops.where(logits).crossEntropy(logits, targets);
        Ops.release(logits);
        return loss;
    }

    /**
     * Back-propagates the loss's gradient of the logits into every parameter's gradient, releasing that gradient
     * as soon as the head has used it (the largest tensor of a step at a large vocabulary).
     */
    public void backward(LossResult loss) {
        backward(loss.dLogits(), null, true);
    }

    /** Back-propagates the gradient of the logits into every parameter's gradient; gradLogits stays the caller's. */
    public void backward(Tensor gradLogits) {
        backward(gradLogits, null);
    }

    /**
     * {@link #backward(Tensor)} that names each module ({@code head}, {@code norm}, {@code blocks.N} down to 0,
     * {@code embed}) to doneOrNull as soon as its parameters' gradients are complete: sharded training starts their
     * reduce-scatter there, while the modules below still compute.
     */
    public void backward(Tensor gradLogits, Consumer<String> doneOrNull) {
        backward(gradLogits, doneOrNull, false);
    }

    /** See {@link #backward(Tensor, Consumer)}; releaseGradLogits when the caller handed gradLogits over. */
    public void backward(Tensor gradLogits, Consumer<String> doneOrNull, boolean releaseGradLogits) {
        Tensor g = head.backward(gradLogits);
        if (releaseGradLogits) {
            Ops.release(gradLogits);
        }
        done(doneOrNull, head);
        g = Ops.consume(g, norm::backward);
        done(doneOrNull, norm);
        for (int i = blocks.size() - 1; i >= 0; i--) {
            g = Ops.consume(g, blocks.get(i)::backward);
            done(doneOrNull, blocks.get(i));
        }
        embed.backward(g);
        Ops.release(g);
        done(doneOrNull, embed);
    }

    private static void done(Consumer<String> doneOrNull, Module module) {
        if (doneOrNull != null) {
            doneOrNull.accept(module.name());
        }
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
