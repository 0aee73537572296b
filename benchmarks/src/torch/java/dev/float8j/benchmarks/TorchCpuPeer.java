package dev.float8j.benchmarks;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * PyTorch's CPU matmul through the JavaCPP presets (org.bytedeco:pytorch): {@code torch.mm(x, W.t())} with W
 * stored [n, k] row-major, the layout float8j's y = x.W^T reads, in F32 and in BF16 (which PyTorch runs through
 * oneDNN: AMX tiles or AVX512-BF16 where the CPU has them, else a slower path).
 */
public final class TorchCpuPeer implements MatmulPeer {
    @Override
    public String name() {
        return "torch_mm";
    }

    @Override
    public String[] dtypes() {
        return new String[] {"F32", "BF16"};
    }

    @Override
    public void threads(int threads) {
        torch.set_num_threads(threads);
    }

    @Override
    public Runnable prepare(String dtype, int m, int k, int n) {
        Tensor x = torch.randn(m, k);
        Tensor w = torch.randn(n, k);
        if (dtype.equals("BF16")) {
            x = x.to(torch.ScalarType.BFloat16);
            w = w.to(torch.ScalarType.BFloat16);
        } else if (!dtype.equals("F32")) {
            throw new IllegalArgumentException("torch peer times F32 and BF16, not " + dtype);
        }
        Tensor xs = x;
        Tensor wt = w.t();
        return () -> {
            try (Tensor y = torch.mm(xs, wt)) {
                if (y.size(0) != m) {
                    throw new IllegalStateException("torch.mm returned " + y.size(0) + " rows, not " + m);
                }
            }
        };
    }
}
