"""Seconds per training iteration of a silico registry model's networks in PyTorch.

  bench_train.py --registry registry.toml --model unet-tiny [--iterations 5] [--warmup 1]
      [--threads N] [--device cpu|cuda] [--precision fp32|bf16|fp16]
      [--memory-format contiguous|channels-last]

Builds the PyTorch twins (silico_reference.py) of the model's generator and discriminator, and
times the same step `silico bench speed` times: Adam on random (batch, 1, *patch) data;
generator objective = Σ weight·term; for adversarial models one discriminator update after it
(BCE with logits, labels 1/0). Mixed precision as silico does it: the forward passes under
torch.autocast, the losses in fp32, fp16 through a GradScaler. Prints one number, seconds per
iteration.
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
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--memory-format", choices=["contiguous", "channels-last"],
                        help="default: the model's train.memory_format, as silico uses it")
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.registry, "rb") as f:
        model = tomllib.load(f)["models"][args.model]
    train = {"batch": 24, "patch": [32, 64, 64], "lr": 1e-3, "betas": [0.5, 0.999], **model.get("train", {})}
    memory_format = args.memory_format or train.get("memory_format", "contiguous")
    layout = torch.channels_last_3d if memory_format == "channels-last" else torch.contiguous_format
    torch.manual_seed(0)
    generator = build(*split(model["generator"])).train().to(device, memory_format=layout)
    discriminator = (
        build(*split(model["discriminator"])).train().to(device, memory_format=layout)
        if "discriminator" in model
        else None
    )
    opt_g = torch.optim.Adam(generator.parameters(), lr=train["lr"], betas=tuple(train["betas"]))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=train["lr"], betas=tuple(train["betas"])) if discriminator else None
    shape = (train["batch"], 1, *train["patch"])
    signal, target = torch.randn(shape, device=device), torch.randn(shape, device=device)
    terms = list(loss_terms(model))
    scalers = [torch.amp.GradScaler(device.type, enabled=args.precision == "fp16") for _ in range(2)]

    def forward(network, x):
        x = x.contiguous(memory_format=layout)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            return network(x).float()

    def update(optimizer, scaler, loss):
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def step():
        prediction = forward(generator, signal)
        fake = forward(discriminator, torch.cat((signal, prediction), 1)) if discriminator else None
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
        update(opt_g, scalers[0], total)
        if discriminator:
            detached = prediction.detach()
            fake = forward(discriminator, torch.cat((signal, detached), 1))
            real = forward(discriminator, torch.cat((signal, target), 1))
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            )
            update(opt_d, scalers[1], d_loss)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(args.iterations):
        step()
    synchronize()
    print(f"{(time.perf_counter() - started) / args.iterations:.6f}")


if __name__ == "__main__":
    main()
