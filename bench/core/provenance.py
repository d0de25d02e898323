"""Where a result came from: versions, hardware, code revision and command line."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from bench import package_version

SOURCE_DIR = Path(__file__).resolve().parents[2]


RECORD_DIRECTORY = "results"


def git_revision(directory: Path = SOURCE_DIR) -> str:
    """The commit of the code's checkout, suffixed ``-dirty`` with uncommitted changes to
    tracked files, or ``"unknown"`` when the code does not run from a git checkout.

    Changes under ``results/`` do not count: they are records that runs append to, not
    code, so a run resumed in the same checkout keeps the clean revision it ran from."""
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                                  text=True, check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 f":(exclude){RECORD_DIRECTORY}"], cwd=directory,
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{revision}-dirty" if status else revision


def package_versions() -> dict[str, str]:
    """Versions of Python and the libraries results depend on."""
    versions = {"python": platform.python_version(), "torch": torch.__version__, "rcbench": package_version()}
    for name in ("numpy", "snntorch", "tonic"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=None)
def _static_hardware() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def hardware(device: torch.device) -> dict[str, object]:
    """The machine, the device results were computed on and torch's thread count."""
    info = dict(_static_hardware())
    info["device"] = str(device)
    info["torch_threads"] = torch.get_num_threads()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def command_line() -> str:
    """The command that is running, as typed (approximately: arguments are re-joined)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
