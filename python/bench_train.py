"""Seconds per training iteration of a silico registry model's networks in PyTorch.

  bench_train.py --registry registry.toml --model unet-tiny [--iterations 5] [--warmup 1] [--threads N]

Builds the PyTorch twins (silico_reference.py) of the model's generator and discriminator, and
times the same step `silico bench` times: Adam on random (batch, 1, *patch) data; generator
objective = Σ weight·term; for adversarial models one discriminator update after it (BCE with
logits, labels 1/0). Prints one number, seconds per iteration.
"""

import argparse
import time
import tomllib

import torch
import torch.nn.functional as F

from silico_reference import build


def split(table):
    table = dict(table)
    return table.pop("component"), table


def loss_terms(model):
    for term in model["losses"]:
        term = dict(term)
        weight = term.pop("weight", 1.0)
        yield term["component"], weight


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.registry, "rb") as f:
        model = tomllib.load(f)["models"][args.model]
    train = {"batch": 24, "patch": [32, 64, 64], "lr": 1e-3, "betas": [0.5, 0.999], **model.get("train", {})}
    torch.manual_seed(0)
    generator = build(*split(model["generator"])).train()
    discriminator = build(*split(model["discriminator"])).train() if "discriminator" in model else None
    opt_g = torch.optim.Adam(generator.parameters(), lr=train["lr"], betas=tuple(train["betas"]))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=train["lr"], betas=tuple(train["betas"])) if discriminator else None
    shape = (train["batch"], 1, *train["patch"])
    signal, target = torch.randn(shape), torch.randn(shape)
    terms = list(loss_terms(model))

    def step():
        prediction = generator(signal)
        fake = discriminator(torch.cat((signal, prediction), 1)) if discriminator else None
        total = 0.0
        for component, weight in terms:
            if component == "mse":
                total = total + weight * F.mse_loss(prediction, target)
            elif component == "l1":
                total = total + weight * F.l1_loss(prediction, target)
            elif component == "gan-bce":
                total = total + weight * F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
            else:
                raise SystemExit(f"no PyTorch twin for the loss `{component}`")
        opt_g.zero_grad()
        total.backward()
        opt_g.step()
        if discriminator:
            detached = prediction.detach()
            fake = discriminator(torch.cat((signal, detached), 1))
            real = discriminator(torch.cat((signal, target), 1))
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            )
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()

    for _ in range(args.warmup):
        step()
    started = time.perf_counter()
    for _ in range(args.iterations):
        step()
    print(f"{(time.perf_counter() - started) / args.iterations:.6f}")


if __name__ == "__main__":
    main()
