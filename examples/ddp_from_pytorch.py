"""A PyTorch DistributedDataParallel script, ported by changing `torch` to `reticulum`.

Below the imports it is the usual PyTorch DDP code: init_process_group, a DistributedSampler with
set_epoch, the model wrapped in DistributedDataParallel, metrics summed with all_reduce, and the
checkpoint written by rank 0 alone. The one choice PyTorch leaves open is the backend: "mpi" (which
PyTorch also has), so the launcher is mpirun, which gives each process its rank and the world size.
It trains on reticulum's built-in 8x8 digits, so it runs with no download.

Run: mpirun -np 2 python examples/ddp_from_pytorch.py [--epochs 10] [--out ddp_digits.pt]
     (as root, add --allow-run-as-root after mpirun; pip install "reticulum[mpi]" brings mpirun)
"""
import argparse

import reticulum as torch                                       # was: import torch
import reticulum.distributed as dist                            # was: import torch.distributed as dist
import reticulum.nn as nn                                       # was: import torch.nn as nn
import reticulum.nn.functional as F                             # was: import torch.nn.functional as F
from reticulum.nn.parallel import DistributedDataParallel as DDP  # was: from torch.nn.parallel import ...
from reticulum.utils.data import DataLoader, DistributedSampler  # was: from torch.utils.data import ...
from reticulum.vision import datasets


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32, help="per process")
    ap.add_argument("--out", default="ddp_digits.pt")
    args = ap.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    train_set, test_set = datasets.Digits(train=True), datasets.Digits(train=False)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)

    model = DDP(Net())  # every rank starts from rank 0's weights
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        totals = torch.zeros(2, dtype=torch.float64)  # loss sum, samples
        for data, target in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()  # gradients are averaged over the ranks here
            optimizer.step()
            totals += torch.tensor([loss.item() * len(data), len(data)], dtype=torch.float64)
        dist.all_reduce(totals)
        if rank == 0:
            print(f"epoch {epoch + 1}: train loss {(totals[0] / totals[1]).item():.4f} over {int(totals[1].item())} samples")

    if rank == 0:
        model.eval()
        with torch.no_grad():
            test_loader = DataLoader(test_set, batch_size=500)
            correct = sum((model(x).argmax(dim=1) == y).sum().item() for x, y in test_loader)
        print(f"test accuracy {correct / len(test_set):.4f}")
        torch.save(model.module.state_dict(), args.out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
