"""The second half of the training-parity check against PyTorch (dev.float8j.benchmarks.LlamaParity is the first).

Loads the initial weights and the tokens LlamaParity wrote into FOLDER, builds llama_pytorch.py's model with the same
sizes in F32 on the CPU (no autocast, no compile), trains it with the same optimizer (AdamW at the same constant
learning rate, betas 0.9 and 0.999, eps 1e-8, weight decay 0.1, clipping at norm 1) on the same batch, and prints both
sides' losses and gradient norms step by step.

Both start from the same weights and data, so the first step's loss and gradient norm may differ only by F32 rounding
(checked: relative 1e-5); later steps drift apart slowly as the rounding differences grow (printed, and checked
loosely: relative 2e-2 over the run). A wrong operation or optimizer rule shows as a gap from the first steps.
Usage: python3 benchmarks/llama_parity.py FOLDER   (non-zero exit when a check fails)
"""
import os
import sys
from types import SimpleNamespace

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_pytorch as lp  # noqa: E402  (its model classes; its main runs only as a script)


def pytorch_name(name):
    # float8j nests the attention's and the MLP's linears (blocks.0.attn.q); llama_pytorch.py does not (blocks.0.q)
    return name.replace(".attn.", ".").replace(".mlp.", ".")


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "tokens.txt")) as f:
        header = dict(kv.split("=") for kv in f.readline().split())
        inputs = [int(t) for t in f.readline().split()]
        targets = [int(t) for t in f.readline().split()]
    a = SimpleNamespace(dim=int(header["dim"]), layers=int(header["layers"]), heads=int(header["heads"]),
                        kv_heads=int(header["kv_heads"]), ffn=int(header["ffn"]), vocab=int(header["vocab"]),
                        seq=int(header["seq"]), theta=float(header["theta"]), eps=float(header["eps"]))
    batch, lr = int(header["batch"]), float(header["lr"])

    torch.manual_seed(0)
    model = lp.Llama(a)
    weights = {pytorch_name(k): v for k, v in load_file(os.path.join(folder, "init.safetensors")).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        sys.exit(f"weights do not match the model: missing {missing}, unexpected {unexpected}")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    cos, sin = lp.rope_tables(a.seq, a.dim // a.heads, a.theta, torch.device("cpu"))
    ids = torch.tensor(inputs).view(batch, a.seq)
    tgt = torch.tensor(targets).view(batch, a.seq)

    theirs = []
    with open(os.path.join(folder, "float8j.csv")) as f:
        next(f)
        for line in f:
            _, loss, norm = line.split(",")
            theirs.append((float(loss), float(norm)))

    print("step,pytorch_loss,float8j_loss,loss_rel_diff,pytorch_grad_norm,float8j_grad_norm,norm_rel_diff")
    worst = 0.0
    failed = False
    for step, (loss8, norm8) in enumerate(theirs, start=1):
        loss = model(ids, tgt, cos, sin)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt.step()
        opt.zero_grad()
        dl = abs(loss.item() - loss8) / abs(loss.item())
        dn = abs(norm - norm8) / abs(norm)
        worst = max(worst, dl)
        print(f"{step},{loss.item():.7f},{loss8:.7f},{dl:.2e},{norm:.7f},{norm8:.7f},{dn:.2e}")
        if step == 1 and (dl > 1e-5 or dn > 1e-5):
            failed = True
    if worst > 2e-2:
        failed = True
    print(f"# largest relative loss difference {worst:.2e}: {'FAIL' if failed else 'PASS'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
