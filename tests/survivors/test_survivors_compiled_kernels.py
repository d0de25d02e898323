"""Tests written for the mutants of ``rc/compiled_kernels.py`` that survived the mutation run (issue 17)."""

from __future__ import annotations

import importlib.util

import pytest

from rc import compiled

pytestmark = pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba is not installed")


def test_a_kernel_is_saved_to_numbas_on_disk_cache_where_a_cache_folder_can_be_written(tmp_path, monkeypatch) -> None:
    """The first call of a later process loads the kernels instead of compiling them (docs/latency-and-streaming.md)."""
    import numba.core.config

    from rc.compiled_kernels import _njit

    source = tmp_path / "kernel_source.py"
    source.write_text("def twice(v):\n    return 2 * v\n")
    spec = importlib.util.spec_from_file_location("kernel_source", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cache = tmp_path / "cache"
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(cache))
    kernel = _njit(module.twice)
    assert kernel(21) == 42
    saved = [path.name for path in cache.rglob("*") if path.is_file()]
    assert any(name.endswith(".nbi") for name in saved) and any(name.endswith(".nbc") for name in saved), saved


def test_a_kernel_is_compiled_without_the_cache_where_none_can_be_kept() -> None:
    """A function without a source file (made by exec) has no cache location: numba refuses cache=True."""
    from rc.compiled_kernels import _njit

    namespace: dict[str, object] = {}
    exec("def plus_one(v):\n    return v + 1\n", namespace)
    kernel = _njit(namespace["plus_one"])
    assert kernel(2) == 3 and kernel(2.5) == 3.5
