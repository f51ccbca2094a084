"""Devices and mixed precision: checked device names, the autocast dtype, torch settings."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import conv_study.device as device_module  # noqa: E402
from conv_study.config import TrainConfig  # noqa: E402
from conv_study.device import (  # noqa: E402
    amp_dtype,
    autocast,
    resolve_device,
    select_device,
    torch_settings,
)

pytestmark = pytest.mark.torch


def test_select_device_checks_what_the_machine_has(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="`device` parameter must be 'auto'"):
        select_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'cuda', but CUDA is not available here.*--device cpu"):
        select_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device("cuda:0")
    # The CUDA branches, exercised without a GPU: a machine with one device.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("auto") == torch.device("cuda")
    assert select_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"'cuda:1'.*1 CUDA device\(s\): cuda:0 to cuda:0"):
        select_device("cuda:1")


def test_amp_dtype_per_device(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype(cpu, False) is None
    monkeypatch.setattr(device_module, "cpu_has_bfloat16", lambda: True)
    assert amp_dtype(cpu, True) == torch.bfloat16
    monkeypatch.setattr(device_module, "cpu_has_bfloat16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        assert amp_dtype(cpu, True) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(cuda, True) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype(cuda, True) == torch.float16


def test_autocast_and_resolve_device():
    x = torch.ones(2, 2)
    with autocast(x.device, None):
        assert (x @ x).dtype == torch.float32
    with autocast(x.device, torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16
    assert resolve_device(torch.nn.Linear(2, 2), "auto") == torch.device("cpu")
    assert resolve_device(torch.nn.Identity(), "auto") == torch.device("cpu")  # no parameters
    with pytest.raises(ValueError, match="The `device` parameter"):
        resolve_device(torch.nn.Identity(), "gpu")


def test_torch_settings_are_restored():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    config = TrainConfig(num_threads=1, deterministic=True)
    with torch_settings(config, torch.device("cpu")):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
