#!/usr/bin/python3
# vctrain's PyTorch peer for `vctrain bench`: how fast the same LeNet trains under PyTorch on this
# machine's CPU, timed the way src/bench times the vctrain engines (warm-up, then several timed
# runs of whole SGD steps, each at least MIN_SECONDS long).
#
# usage: torch_lenet.py THREADS BATCH RUNS MIN_SECONDS
# prints one JSON object: {"peer","version","threads","batch","imagesPerSecond":[per run...]}
# Dev-time only: the product never needs Python; the bench reports "not installed" without torch.
import json
import sys
import time

threads, batch, runs = (int(a) for a in sys.argv[1:4])
min_seconds = float(sys.argv[4])

import torch
from torch import nn

torch.set_num_threads(threads)
torch.manual_seed(1)

# MXNet train_mnist's LeNet, the network vctrain trains (431,080 parameters).
model = nn.Sequential(
    nn.Conv2d(1, 20, kernel_size=5), nn.Tanh(), nn.MaxPool2d(2),
    nn.Conv2d(20, 50, kernel_size=5), nn.Tanh(), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(800, 500), nn.Tanh(),
    nn.Linear(500, 10),
)
assert sum(p.numel() for p in model.parameters()) == 431080
sgd = torch.optim.SGD(model.parameters(), lr=0.05)
criterion = nn.CrossEntropyLoss()
images = torch.rand(batch, 1, 28, 28)
labels = torch.randint(0, 10, (batch,))


def one_step():
    sgd.zero_grad(set_to_none=True)
    loss = criterion(model(images), labels)
    loss.backward()
    sgd.step()
    return loss.item()


# Warm-up: first steps allocate and pick kernels.
warm_end = time.perf_counter() + min_seconds / 2
one_step()
while time.perf_counter() < warm_end:
    one_step()

rates = []
for _ in range(runs):
    steps = 0
    start = time.perf_counter()
    while True:
        one_step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    rates.append(steps * batch / elapsed)

print(json.dumps({
    "peer": "pytorch",
    "version": torch.__version__,
    "threads": threads,
    "batch": batch,
    "imagesPerSecond": rates,
}))
