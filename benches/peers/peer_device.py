"""The device a peer runs on: $PEER_DEVICE (`cpu` by default, `cuda` in the GPU check). Every
tensor and module of the peer is created there (torch.set_default_device), and timings wait for
the device to finish its queued work (a GPU runs ahead of the host)."""
import os

import torch

DEVICE = os.environ.get("PEER_DEVICE", "cpu")


def use_device():
    torch.set_default_device(DEVICE)


def synchronize():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
