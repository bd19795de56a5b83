"""Into PyTorch: read any dataset this add-on writes, or train on frames while Blender renders them.

Importable without Blender and, for everything but the torch classes, without torch:

    from nerf_dataset.stream import NerfDataset, launch, RemoteIterableDataset, replay

``NerfDataset`` reads a dataset on disk (any of the four formats); ``launch`` starts headless Blender
instances that render and stream frames over an authenticated loopback connection; ``RemoteIterableDataset``
hands those frames to a ``DataLoader``; ``replay`` reads a recorded stream back without Blender.
"""

from __future__ import annotations

_EXPORTS = {
    "NerfDataset": "dataset",
    "launch": "launcher",
    "Launch": "launcher",
    "InstanceLost": "launcher",
    "RemoteIterableDataset": "remote",
    "replay": "record",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)


__all__ = sorted(_EXPORTS)
