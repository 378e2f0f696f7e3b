"""The memory a container has left, from fake cgroup v2 and v1 trees and /proc/meminfo."""

import pytest

from headlines.serving import memory

MIB = 2**20
V1_UNLIMITED = 9223372036854771712


def _meminfo(tmp_path, total_mib=16384, available_mib=8192):
    path = tmp_path / "meminfo"
    path.write_text(
        f"MemTotal:       {total_mib * 1024} kB\nMemFree:        1024 kB\nMemAvailable:   {available_mib * 1024} kB\n"
    )
    return path


def _cgroup(tmp_path, files):
    root = tmp_path / "cgroup"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def _v2(tmp_path, limit, usage_mib=600):
    return _cgroup(
        tmp_path,
        {
            "memory.max": limit,
            "memory.current": str(usage_mib * MIB),
            "memory.stat": f"anon {400 * MIB}\nfile {170 * MIB}\nactive_file {100 * MIB}\n"
            f"inactive_file {70 * MIB}\nfile_mapped {20 * MIB}\n",
        },
    )


def _v1(tmp_path, limit, usage_mib=600):
    stat = f"cache {170 * MIB}\nactive_file {1 * MIB}\ninactive_file {1 * MIB}\nmapped_file {1 * MIB}\n"
    stat += f"total_active_file {100 * MIB}\ntotal_inactive_file {70 * MIB}\ntotal_mapped_file {20 * MIB}\n"
    return _cgroup(
        tmp_path,
        {
            "memory/memory.limit_in_bytes": str(limit),
            "memory/memory.usage_in_bytes": str(usage_mib * MIB),
            "memory/memory.stat": stat,
        },
    )


@pytest.mark.parametrize("version", [_v2, _v1])
def test_the_cgroup_limit_less_its_usage_without_page_cache(tmp_path, version):
    root = version(tmp_path, str(1000 * MIB))
    # 1000 - (600 - 170 of page cache, mapped or not)
    assert memory.available_bytes(root, _meminfo(tmp_path)) == 570 * MIB


@pytest.mark.parametrize("root", [lambda p: _v2(p, "max"), lambda p: _v1(p, V1_UNLIMITED), lambda p: p / "none"])
def test_without_a_cgroup_limit_the_machines_available_memory(tmp_path, root):
    assert memory.available_bytes(root(tmp_path), _meminfo(tmp_path, available_mib=8192)) == 8192 * MIB


def test_a_cgroup_limit_above_the_machine_is_no_limit(tmp_path):
    root = _v2(tmp_path, str(32768 * MIB))
    assert memory.available_bytes(root, _meminfo(tmp_path, total_mib=16384, available_mib=8192)) == 8192 * MIB


def test_the_machine_bounds_what_the_cgroup_allows(tmp_path):
    root = _v2(tmp_path, str(1000 * MIB))
    assert memory.available_bytes(root, _meminfo(tmp_path, available_mib=300)) == 300 * MIB


def test_this_machine_answers_a_positive_number():
    assert memory.available_bytes() > 0
    memory.return_freed_memory()  # glibc here; elsewhere it does nothing
