"""Datasets (image folders, MVTec-AD layout, STL10 / CIFAR10), batched augmentations, synthetic defects."""
