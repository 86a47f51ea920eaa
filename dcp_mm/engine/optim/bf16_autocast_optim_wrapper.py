"""bfloat16 autocast optimizer wrapper (mixed precision on CPU)."""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under bfloat16 autocast.

    mmengine 0.10.7's ``AmpOptimWrapper`` asserts a CUDA / NPU / MLU / MUSA
    device, so it cannot be built on a CPU. bfloat16 has float32's exponent
    range, so no loss scaling is needed: this wrapper only adds
    ``torch.autocast(device_type, dtype=torch.bfloat16)`` around the
    data preprocessor and the forward pass (mmengine's ``train_step`` runs
    both inside :meth:`optim_context`); backward, gradient clipping and the
    optimizer step run in float32 on float32 parameters (autocast keeps the
    master weights in float32).

    Args:
        device_type: autocast device ('cpu' or 'cuda'); None = the device of
            the model's first parameter.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).

    Raises:
        ValueError: ``device_type`` is not 'cpu' or 'cuda'.
    """

    def __init__(self, device_type: Optional[str] = None, **kwargs) -> None:
        if device_type not in (None, 'cpu', 'cuda'):
            raise ValueError(f"device_type must be 'cpu', 'cuda' or None, "
                             f'got {device_type!r}')
        super().__init__(**kwargs)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device = self.device_type
        if device is None:
            param = next(model.parameters(), None)
            device = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(
                device_type=device, dtype=torch.bfloat16):
            yield
