"""
TF32 matrix products on CUDA, as DIAMOND trains.

DIAMOND's trainer (``src/trainer.py``) sets ``torch.backends.cuda.matmul.allow_tf32 = True`` for its whole run, so on
Ampere and newer GPUs its linear layers, LSTMs and attention multiply in TF32 (10-bit mantissa, float32 range),
several times faster than in full float32; PyTorch's default keeps float32. Convolutions already use TF32 through
cuDNN by default (``torch.backends.cudnn.allow_tf32``).

The library itself never changes this process-wide setting: ``JEDI(...)`` and ``learn`` leave it to the user, as SB3
does. The ``sb3-jedi train`` and ``sb3-jedi benchmark atari100k`` commands, which run whole trainings as DIAMOND's
trainer does, call :func:`enable_tf32_matmul` on CUDA devices (``--no-tf32`` keeps float32). From Python::

    import torch as th

    th.backends.cuda.matmul.allow_tf32 = True  # DIAMOND's setting; or sb3_jedi.precision.enable_tf32_matmul(model.device)
"""

import torch as th

__all__ = ["enable_tf32_matmul", "tf32_matmul_enabled"]


def enable_tf32_matmul(device: th.device | str) -> bool:
    """
    Let CUDA matrix products use TF32 (``torch.backends.cuda.matmul.allow_tf32 = True``, process-wide), as DIAMOND's
    trainer does, when ``device`` is a CUDA device; any other device leaves the setting as it is.

    :param device: the device the model trains on (``model.device``, ``"cuda"``, ``"cpu"``)
    :return: whether the setting was turned on (``True`` for a CUDA device)
    """
    if th.device(device).type != "cuda":
        return False
    th.backends.cuda.matmul.allow_tf32 = True
    return True


def tf32_matmul_enabled(device: th.device | str) -> bool | None:
    """
    Whether matrix products on ``device`` may use TF32, for run records.

    :param device: the device the model trains on
    :return: ``torch.backends.cuda.matmul.allow_tf32`` for a CUDA device, ``None`` for other devices (no TF32 there)
    """
    if th.device(device).type != "cuda":
        return None
    return bool(th.backends.cuda.matmul.allow_tf32)
