import pytest
import torch

from vaelib.data import datasets as data


@pytest.fixture(scope="session")
def mnist_slice():
    """Small real MNIST slices: 2,000 train and 500 test images."""
    x_train, y_train = data.load("mnist", train=True, limit=2000)
    x_test, y_test = data.load("mnist", train=False, limit=500)
    return x_train, y_train, x_test, y_test


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
