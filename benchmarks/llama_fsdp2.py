"""PyTorch FSDP2 with BF16, the reference beside float8j's sharded data parallel on several GPUs (issue 17).

The model of benchmarks/llama_pytorch.py (imported from it, so the two cannot drift), each block and the whole model
wrapped with fully_shard (parameters, gradients and AdamW state sharded; BF16 parameters for compute, F32 gradient
reduction), one process per GPU launched by torchrun. Each rank trains on --batch sequences (the global batch is
--batch x GPUs). NVLink multicast is kept off: NCCL_NVLS_ENABLE=0 is set before NCCL starts, and any other value is
refused.

Usage: NCCL_NVLS_ENABLE=0 torchrun --standalone --nproc-per-node N benchmarks/llama_fsdp2.py [--layers 4] ...
       [--one-gpu-tokens-per-s T]  (tokens/s of the 1-GPU run, for the scaling efficiency)
Prints on rank 0 one CSV line in the columns of benchmarks/results/multi-gpu.csv:
gpus,recipe,tokens_per_s,scaling_efficiency,device,commit,date
"""
import datetime
import os
import sys
import time

if os.environ.setdefault("NCCL_NVLS_ENABLE", "0") != "0":
    sys.exit("NCCL_NVLS_ENABLE must be 0: NVLink multicast can take the host's GPUs out of service")

import torch
import torch.distributed as dist
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_pytorch  # noqa: E402


def main():
    p = llama_pytorch.arguments()
    p.add_argument("--one-gpu-tokens-per-s", type=float, default=0.0)
    a = p.parse_args()
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", rank))
    torch.cuda.set_device(local)
    dev = torch.device("cuda", local)

    torch.manual_seed(0)
    model = llama_pytorch.Llama(a).to(dev)
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for blk in model.blocks:
        fully_shard(blk, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=True)
    cos, sin = llama_pytorch.rope_tables(a.seq, a.dim // a.heads, a.theta, dev)
    torch.manual_seed(1 + rank)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev)
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()

    def step():
        loss = model(inputs, targets, cos, sin)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / a.steps
    tokens_per_s = a.batch * a.seq * world / seconds
    if rank == 0:
        efficiency = tokens_per_s / (world * a.one_gpu_tokens_per_s) if a.one_gpu_tokens_per_s > 0 else float("nan")
        date = datetime.date.today().isoformat()
        print(f"{world},pytorch-fsdp2-bf16,{tokens_per_s:.0f},{efficiency:.3f},{torch.cuda.get_device_name(dev)},"
              f"{a.commit},{date}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
