"""Datasets (image folders, MVTec-AD layout, STL10 / CIFAR10), batched augmentations, synthetic defects."""

# ab_core.specs must finish importing before ab_core.contracts: specs builds its method union at import
# time, which imports the methods, which import contracts (which imports specs). Importing contracts
# first (as this package's loaders do) would otherwise meet a half-initialised module.
import ab_core.specs  # noqa: F401
