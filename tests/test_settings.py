"""How many threads certkb uses: the cores it may really use, the cgroup's CPU quota included."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import settings as settings_module
from kb.errors import ConfigError
from kb.settings import Settings, cpu_quota


def _cgroup(tmp_path: Path, own: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    root.mkdir(exist_ok=True)
    proc = tmp_path / "self-cgroup"
    proc.write_text(own, encoding="utf-8")
    return root, proc


def test_a_cgroup_v2_quota_is_read_from_the_process_own_cgroup_up(tmp_path: Path) -> None:
    root, own = _cgroup(
        tmp_path,
        "0::/docker/abc\n",
        {"cpu.max": "max 100000\n", "docker/cpu.max": "300000 100000\n", "docker/abc/cpu.max": "150000 100000\n"},
    )
    assert cpu_quota(root, own) == 1.5
    (root / "docker" / "cpu.max").write_text("100000 100000\n", encoding="utf-8")
    assert cpu_quota(root, own) == 1.0  # a parent's smaller quota holds for its children


def test_no_limit_and_unreadable_files_mean_no_quota(tmp_path: Path) -> None:
    root, own = _cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert cpu_quota(root, own) is None
    assert cpu_quota(root, tmp_path / "missing") is None
    (root / "cpu.max").write_text("garbage\n", encoding="utf-8")
    assert cpu_quota(root, own) is None


def test_a_cgroup_v1_quota_and_a_container_without_a_cgroup_namespace(tmp_path: Path) -> None:
    # the process's cgroup path (as the host names it) does not exist inside the container's mount: the mount's
    # root is the container's own cgroup
    root, own = _cgroup(
        tmp_path,
        "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        {"cpu,cpuacct/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
    )
    assert cpu_quota(root, own) == 2.0
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n", encoding="utf-8")
    assert cpu_quota(root, own) is None


def test_threads_default_to_the_quota_rounded_up_and_the_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(settings_module, "cpu_quota", lambda: 1.5)
    assert Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb"}).threads == 2
    monkeypatch.setattr(settings_module, "cpu_quota", lambda: 0.2)
    assert Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb"}).threads == 1
    monkeypatch.setattr(settings_module, "cpu_quota", lambda: None)
    assert Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb"}).threads == 8
    assert Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb", "CERTKB_THREADS": "3"}).threads == 3
    with pytest.raises(ConfigError, match="whole number"):
        Settings.from_env({"CERTKB_KB_DIR": "/tmp/kb", "CERTKB_THREADS": "two"})
