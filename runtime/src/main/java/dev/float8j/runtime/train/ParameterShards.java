package dev.float8j.runtime.train;

import dev.float8j.runtime.DType;
import dev.float8j.runtime.Tensor;
import dev.float8j.runtime.backend.Backend;
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
 * (an RMSNorm weight [1, dim]) is flattened to [size, 1] first, so every rank owns some of it. The shards live where
 * the model's parameters do: on the host, or on the device of the backend given (whose optimizer state then stays
 * there too).
 */
final class ParameterShards extends Module {
    private final List<Parameter> full;
    private final List<ShardLayout> layouts = new ArrayList<>();
    private final List<Parameter> shards = new ArrayList<>();

    /**
     * The shards of full on rank of ranks, each parameter's shards a multiple of rowAlignment(p) rows (its FP8 scale
     * blocks along dim 0).
     *
     * @throws IllegalArgumentException if a parameter lives on a device that backend does not compute on
     */
    ParameterShards(List<Parameter> full, int rank, int ranks, Backend backend, ToIntFunction<Parameter> rowAlignment) {
        this.full = List.copyOf(full);
        boolean backendOnDevice = backend.toDevice(Tensor.zeros(DType.F32, 1, 1)).isOnDevice();
        for (Parameter p : this.full) {
            Tensor v = p.value();
            if (v.isOnDevice() && !backendOnDevice) {
                throw new IllegalArgumentException(p + " lives on " + v.deviceData().device() + " but the " + backend.name()
                        + " backend computes on the host: make the model's backend current (Backends.use) before"
                        + " sharding it");
            }
            ShardLayout layout = v.rows() >= ranks ? ShardLayout.of(v.rows(), v.cols(), ranks, rowAlignment.applyAsInt(p))
                    : ShardLayout.of(v.size(), 1, ranks, 1);
            layouts.add(layout);
            // made from the host copy once, then moved where the model's parameters live
            Parameter shard = parameter(p.name().replace('.', '_'), layout.shardOf(p.toHost(v), rank));
            if (v.isOnDevice()) {
                shard.moveTo(backend);
            }
            shards.add(shard);
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
