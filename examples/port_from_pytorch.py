"""A PyTorch training script, ported by changing `torch` to `reticulum`.

Everything below the imports is the usual PyTorch code: an nn.Module subclass, F.* ops,
an optimizer and LR scheduler, torchvision's MNIST with ToTensor/Normalize, a DataLoader,
the train/eval loops, and a state_dict checkpoint. Only the import lines differ. Without
--data-root it trains on reticulum's built-in 8x8 digits instead (torchvision has no such
set), so it runs with no download.

Run: python examples/port_from_pytorch.py [--data-root DIR] [--download] [--epochs 3]
"""
import argparse
import time

import reticulum as torch                      # was: import torch
import reticulum.nn as nn                      # was: import torch.nn as nn
import reticulum.nn.functional as F            # was: import torch.nn.functional as F
from reticulum.utils.data import DataLoader   # was: from torch.utils.data import DataLoader
from reticulum.vision import datasets, transforms  # was: from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self, image_size):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn = nn.BatchNorm2d(32)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(32 * (image_size // 4) ** 2, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.bn(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def train(model, loader, optimizer, epoch):
    model.train()
    total, start = 0.0, time.perf_counter()
    for data, target in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data), target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(data)
    print(f"epoch {epoch}: train loss {total / len(loader.dataset):.4f} ({time.perf_counter() - start:.1f}s)")


def test(model, loader):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            loss += F.cross_entropy(output, target, reduction="sum").item()
            correct += (output.argmax(dim=1) == target).sum().item()
    n = len(loader.dataset)
    print(f"test: loss {loss / n:.4f}, accuracy {correct}/{n} ({100.0 * correct / n:.2f}%)")
    return correct / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", help="folder with the MNIST files, or where to download them (default: built-in 8x8 digits)")
    ap.add_argument("--download", action="store_true", help="download MNIST into --data-root if missing")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.data_root:
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train_set = datasets.MNIST(args.data_root, train=True, download=args.download, transform=transform)
        test_set = datasets.MNIST(args.data_root, train=False, transform=transform)
        size, epochs = 28, args.epochs or 2
    else:
        train_set, test_set, size = datasets.Digits(train=True), datasets.Digits(train=False), 8
        epochs = args.epochs or 15
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = Net(size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 2), gamma=0.3)
    for epoch in range(1, epochs + 1):
        train(model, train_loader, optimizer, epoch)
        scheduler.step()
    test(model, test_loader)
    torch.save(model.state_dict(), "port_from_pytorch.pt")
    model.load_state_dict(torch.load("port_from_pytorch.pt"))
    print("saved and reloaded port_from_pytorch.pt")


if __name__ == "__main__":
    main()
