"""Threads and loader workers chosen from the cores this process may use (its affinity mask)
and the data (in memory or files), on a CPU or a GPU."""

from __future__ import annotations

import pytest

from vidssl.config import ConfigError, load_config


def test_num_workers_auto_is_chosen_from_the_cores_present(monkeypatch) -> None:
    from vidssl import resources
    from vidssl.data.layouts import data_workers

    assert load_config(None, ["data.num_workers=-1"]).data.num_workers == -1
    with pytest.raises(ConfigError, match="data.num_workers"):
        load_config(None, ["data.num_workers=-2"])
    assert resources.resolve_workers(3) == 3  # an explicit number is kept
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert resources.available_cores() == 2
    assert resources.resolve_workers(-1, "cpu") == 1  # files: a worker decodes meanwhile
    assert resources.resolve_workers(-1, "cpu", in_memory=True) == 0  # no core to spare
    demo = load_config("configs/demo.yaml").data
    assert data_workers(demo) == 0  # the synthetic set is in memory (its layout says so)
    assert resources.resolve_workers(-1, "cuda") == 1
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert resources.resolve_workers(-1, "cpu") == 0
    monkeypatch.setattr(resources.os, "sched_getaffinity", lambda pid: set(range(64)),
                        raising=False)
    assert resources.resolve_workers(-1, "cuda") == 16
    assert resources.resolve_workers(-1, "cpu") == 1  # one worker overlaps loading
