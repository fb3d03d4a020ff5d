"""Data: the datasets as in-memory tensors (`datasets`) and the routes that fetch their files (`fetch`)."""

from .datasets import (DATA_DIR, DATASETS, FASHION_CLASSES, FIXED_BINARIZATION_SEED, DataError,  # noqa: F401
                       DatasetSpec, binarize, check_dataset, load, raw_dir, verify)
