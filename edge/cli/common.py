"""Flags every ``lepton-edge`` subcommand accepts before or after its name, and the version line."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
from typing import Any

EPILOG = (
    "exit codes: 0 clean stop, 1 fault (restart), 65 bundle invalid, "
    "66 source unreadable, 78 bad configuration"
)


def global_flags(*, in_subcommand: bool) -> argparse.ArgumentParser:
    """``-v``/``--version`` for the top parser and, without defaults, for each subcommand's.

    A subcommand's copy must not reset what was given before its name, so its default is
    ``SUPPRESS`` (the attribute is only set when the flag is present).
    """
    parser = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if in_subcommand else False
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument("--version", action=_VersionAction, help="print the versions and exit")
    return parser


class _VersionAction(argparse.Action):
    """argparse's own ``version`` action wants the text up front; ours imports OpenCV for it,
    which every other command would then pay for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(version_line())
        parser.exit()


def package_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _module_version(module: str) -> str | None:
    """A runtime that may come from the system, not pip (JetPack's TensorRT and OpenCV)."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # absent, or present but failing to load (no GPU driver): not ours to judge here
        return None


def version_line() -> str:
    from lepton.edge.version import __version__

    parts = {
        "onnxruntime": package_version("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
        "OpenVINO": package_version("openvino"),
        "TensorRT": package_version("tensorrt", "tensorrt-cu12", "tensorrt-cu13")
        or _module_version("tensorrt"),
        "OpenCV": _module_version("cv2"),
        "Python": platform.python_version(),
    }
    found = ", ".join(f"{name} {ver}" for name, ver in parts.items() if ver)
    absent = ", ".join(name for name, ver in parts.items() if not ver)
    return f"lepton-edge {__version__} ({found}{'; not installed: ' + absent if absent else ''})"


__all__ = ["EPILOG", "global_flags", "package_version", "version_line"]
