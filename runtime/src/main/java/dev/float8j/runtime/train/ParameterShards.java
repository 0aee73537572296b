package dev.float8j.runtime.train;

import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.dist.ShardLayout;
import dev.float8j.runtime.nn.Module;
import dev.float8j.runtime.nn.Parameter;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * One rank's shards of a model's parameters, as parameters of their own (F32 master values and gradients), so that
 * an unchanged optimizer steps only them. Shard i belongs to the model's parameter i and is its rows
 * {@link ShardLayout#firstRow} on of the layout, padded with zero rows. A parameter with fewer rows than ranks
 * (an RMSNorm weight [1, dim]) is flattened to [size, 1] first, so every rank owns some of it.
 */
final class ParameterShards extends Module {
    private final List<Parameter> full;
    private final List<ShardLayout> layouts = new ArrayList<>();
    private final List<Parameter> shards = new ArrayList<>();

    ParameterShards(List<Parameter> full, int rank, int ranks) {
        this(full, rank, ranks, p -> 1);
    }

    /** As above, each parameter's shards a multiple of rowAlignment(p) rows (its FP8 scale blocks along dim 0). */
    ParameterShards(List<Parameter> full, int rank, int ranks, ToIntFunction<Parameter> rowAlignment) {
        this.full = List.copyOf(full);
        for (Parameter p : this.full) {
            Tensor v = p.value();
            if (v.isOnDevice()) {
                throw new IllegalArgumentException(p + " lives on " + v.deviceData().device() + "; sharded training"
                        + " runs on host parameters (the device path is not written yet, see docs/distributed.md)");
            }
            ShardLayout layout = v.rows() >= ranks ? ShardLayout.of(v.rows(), v.cols(), ranks, rowAlignment.applyAsInt(p))
                    : ShardLayout.of(v.size(), 1, ranks, 1);
            layouts.add(layout);
            shards.add(parameter(p.name().replace('.', '_'), layout.shardOf(v, rank)));
        }
    }

    int count() {
        return full.size();
    }

    Parameter full(int i) {
        return full.get(i);
    }

    Parameter shard(int i) {
        return shards.get(i);
    }

    ShardLayout layout(int i) {
        return layouts.get(i);
    }

    List<Parameter> shards() {
        return shards;
    }
}
