"""Device and dtype, decided in one place."""

from __future__ import annotations

import torch

from sora_cli.errors import BadInput


def has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively: in AMX tiles (measured 4.6x its
    float32 rate) or with AVX512-BF16 (2.6x). Elsewhere bf16 is emulated and far slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInput(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput("CUDA is not available on this machine (use --device cpu)")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """A --dtype name -> a dtype; None for auto on a CPU, which the model's loader decides
    (bf16 autocast where the CPU has native bf16 and the model's evaluation showed no loss in it)."""
    if name == "auto":
        # bf16 halves memory on GPUs; on CPUs it depends on the hardware and the model.
        return torch.bfloat16 if device.type == "cuda" else None
    if name not in DTYPES:
        raise BadInput(f"unknown dtype '{name}' (use auto, {', '.join(DTYPES)})")
    return DTYPES[name]
