"""A module run with its convolution weights cast to bf16, keeping for backward only the float32 originals."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def with_cast_weights(module: nn.Module, dtype: torch.dtype, *inputs: Tensor) -> Any:
    """`module(*inputs)` with every trainable convolution weight cast to `dtype` for this call, as
    autocast casts it, but each cast saved for backward as its float32 parameter and cast again when
    backward needs it: autocast keeps the casts themselves until backward (half the parameters' size
    again, alive at the peak). The same values on both paths, so the same gradients bit for bit."""
    weights = {name: p for name, p in module.named_parameters() if p.requires_grad and p.dim() == 4}
    casts = {name: p.to(dtype) for name, p in weights.items()}
    original = {cast.data_ptr(): weights[name] for name, cast in casts.items()}

    def pack(saved: Tensor) -> Tensor | tuple[nn.Parameter]:
        parameter = original.get(saved.data_ptr()) if saved.dtype == dtype else None
        return (parameter,) if parameter is not None and saved.shape == parameter.shape else saved

    def unpack(saved: Tensor | tuple[nn.Parameter]) -> Tensor:
        return saved[0].detach().to(dtype) if isinstance(saved, tuple) else saved

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        return torch.func.functional_call(module, casts, inputs)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: a GPU that supports it, or a CPU whose oneDNN has bf16
    kernels (AVX-512 BF16, AMX). Elsewhere bf16 is emulated: several times slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
