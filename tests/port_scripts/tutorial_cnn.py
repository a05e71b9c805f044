"""The official "Training a Classifier" tutorial (CIFAR-10 with a LeNet-style CNN, SGD with momentum, save and
reload the state_dict, accuracy per class), cut to CIFAR-shaped data made with NumPy; and a small
encoder-decoder of the kind segmentation tutorials build, with GELU and bilinear upsampling."""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class TinySegmenter(nn.Module):
    """Downsample twice, upsample back (one learned, one bilinear), predict a class per pixel."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU(), nn.MaxPool2d(2))
        self.down2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.GELU(approximate='tanh'), nn.MaxPool2d(2))
        self.up = nn.Upsample(scale_factor=2, mode='nearest')
        self.head = nn.Conv2d(16 + 8, n_classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        u = torch.cat([self.up(d2), d1], dim=1)
        logits = self.head(u)
        return F.interpolate(logits, size=x.shape[-2:], mode='bilinear', align_corners=False)


def init_weights(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p[0].numel() if p.dim() > 1 else p.numel())
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))


def batches(n_batches, batch_size, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        images = rng.uniform(-1, 1, size=(batch_size, 3, 32, 32)).astype(np.float32)
        labels = rng.integers(0, 10, size=batch_size)
        yield torch.from_numpy(images), torch.from_numpy(labels)


def classifier(steps=6):
    net = Net()
    init_weights(net, 0)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    losses = []
    running_loss = 0.0
    for i, data in enumerate(batches(steps, 4, 1), 0):
        # get the inputs; data is a list of [inputs, labels]
        inputs, labels = data

        # zero the parameter gradients
        optimizer.zero_grad()

        # forward + backward + optimize
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        # print statistics
        running_loss += loss.item()
        losses.append(loss.item())
        if i % 2 == 1:
            print(f'[{1}, {i + 1:5d}] loss: {running_loss / 2:.3f}')
            running_loss = 0.0
    print('Finished Training')

    PATH = os.path.join(tempfile.mkdtemp(), 'cifar_net.pth')
    torch.save(net.state_dict(), PATH)
    net = Net()
    net.load_state_dict(torch.load(PATH, weights_only=True))

    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    all_outputs = []
    with torch.no_grad():
        for images, labels in batches(3, 8, 2):
            outputs = net(images)
            all_outputs.append(outputs.numpy())
            _, predictions = torch.max(outputs, 1)
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
    return losses, np.concatenate(all_outputs), correct_pred


def segmenter(steps=4):
    model = TinySegmenter()
    init_weights(model, 3)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(4)
    images = torch.from_numpy(rng.uniform(-1, 1, size=(2, 3, 16, 16)).astype(np.float32))
    masks = torch.from_numpy(rng.integers(0, 3, size=(2, 16, 16)))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), masks)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main():
    losses, outputs, correct = classifier()
    return {"losses": losses, "outputs": outputs, "correct": correct, "segmenter": segmenter()}
