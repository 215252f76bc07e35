"""The system monitor: thresholds with hysteresis, real psutil readings, and in the daemon."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sourcekit import DaemonProcess, async_wait_for, events_of, run_cli, wait_for, write_config

from sloth_tui.config import ConfigError, MonitorSettings, load_settings
from sloth_tui.engine.events import catalog_warnings
from sloth_tui.model.errors import EventRefused
from sloth_tui.sources.monitor import Alarms, Sample, SystemMonitor, take_sample

LOW = MonitorSettings(
    interval=0.1,
    cpu_percent=0,
    memory_percent=0.1,
    disk_percent=0.1,
    load_per_cpu=0,
    mount_points=("/",),
)


def sample(cpu: float = 10, mem: float = 10, disk: float = 10, load: float = 0.1) -> Sample:
    return Sample(
        cpu_percent=cpu,
        load=(load, load, load),
        cpu_count=2,
        memory_total=1000,
        memory_available=900,
        memory_percent=mem,
        disks={"/data": (disk, 123)},
    )


def test_an_alarm_fires_once_and_again_only_after_recovery() -> None:
    alarms = Alarms(MonitorSettings(cpu_percent=90, hysteresis=5))
    fired = [[t for t, _ in alarms.check(sample(cpu=c))] for c in (50, 91, 99, 88, 86, 84.9, 90)]
    # 91 fires; 99 and 88 are the same episode; 84.9 is below 90-5: recovered; 90 fires again.
    assert fired == [[], ["system.cpu_high"], [], [], [], [], ["system.cpu_high"]]


def test_every_alarm_has_the_catalogs_fields() -> None:
    alarms = Alarms(
        MonitorSettings(cpu_percent=50, memory_percent=50, disk_percent=50, load_per_cpu=1.0)
    )
    out = dict(alarms.check(sample(cpu=60, mem=95, disk=97, load=4.0)))
    assert set(out) == {
        "system.cpu_high",
        "system.memory_low",
        "system.disk_full",
        "system.resource_high",
    }
    for event_type, data in out.items():
        assert catalog_warnings(event_type, data) == [], event_type
    assert out["system.disk_full"] == {
        "mount_point": "/data",
        "usage_percent": 97,
        "available_bytes": 123,
    }
    assert out["system.resource_high"]["current"] == 2.0  # load 4 over 2 cores
    assert out["system.cpu_high"]["load_average"] == 4.0


def test_each_mount_point_has_its_own_alarm() -> None:
    alarms = Alarms(MonitorSettings(disk_percent=90))
    two = replace(sample(), disks={"/a": (95.0, 1), "/b": (50.0, 1)})
    assert [d["mount_point"] for _, d in alarms.check(two)] == ["/a"]
    both = replace(sample(), disks={"/a": (96.0, 1), "/b": (91.0, 1)})
    assert [d["mount_point"] for _, d in alarms.check(both)] == ["/b"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (MonitorSettings(interval=0), "interval must be above 0"),
        (MonitorSettings(hysteresis=-1), "hysteresis must not be negative"),
    ],
)
def test_bad_monitor_settings(settings: MonitorSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SystemMonitor(lambda *a, **k: None, settings)  # type: ignore[arg-type,return-value]


def test_a_missing_mount_point_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    missing: set[str] = set()
    with caplog.at_level(logging.ERROR, "sloth_tui.monitor"):
        for _ in range(3):
            s = take_sample(("/", "/no/such/mount"), missing)
    assert list(s.disks) == ["/"] and s.cost_s >= 0
    assert [r.message for r in caplog.records] == [
        "monitor: cannot read disk usage of /no/such/mount: No such file or directory"
    ]


async def test_real_readings_cross_low_thresholds_once() -> None:
    sent: list[tuple[str, dict[str, Any], str]] = []

    async def dispatch(event_type: str, data: dict[str, Any], *, source: str) -> None:
        sent.append((event_type, data, source))
        if event_type == "system.resource_high":
            raise EventRefused("a refusal is logged, the monitor goes on")

    monitor = SystemMonitor(dispatch, LOW)
    cpu_before = time.process_time()  # every thread's: the sampling runs on a worker
    first = await monitor.tick()
    assert {t for t, _ in first} == {
        "system.cpu_high",
        "system.memory_low",
        "system.disk_full",
        "system.resource_high",
    }
    assert await monitor.tick() == [] and await monitor.tick() == []  # hysteresis: no repeats
    cpu_after = time.process_time()
    assert {s for _, _, s in sent} == {"system"} and len(sent) == 4
    # Its own cost: a part of what this process spent meanwhile, not the process's total
    assert monitor.samples == 3 and 0 < monitor.cpu_seconds <= cpu_after - cpu_before


async def test_start_and_stop_run_the_loop() -> None:
    sent: list[str] = []

    async def dispatch(event_type: str, data: dict[str, Any], *, source: str) -> None:
        sent.append(event_type)

    monitor = SystemMonitor(dispatch, replace(LOW, interval=0.05))
    monitor.start()
    await async_wait_for(lambda: monitor.samples >= 4, what="four samples")
    await monitor.stop()
    assert monitor.samples >= 2 and sorted(sent) == sorted(set(sent)) and len(sent) == 4


def test_the_daemon_raises_alarms_from_the_config(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    d = daemons()
    write_config(
        d.home,
        "[monitor]\ninterval = 0.2\ncpu_percent = 0\nmemory_percent = 0.1\n"
        'disk_percent = 0.1\nload_per_cpu = 0\nmount_points = ["/"]\n',
    )
    assert load_settings(d.home).monitor.interval == 0.2
    d.start()
    wait_for(lambda: len(events_of(d.home, "system.[cdmr]*")) >= 4, what="the four alarms")
    time.sleep(1.0)  # five more samples: still one event each
    assert d.signal(signal.SIGTERM) == 0
    alarms = events_of(d.home, "system.[cdmr]*")
    assert sorted(e["type"] for e in alarms) == [
        "system.cpu_high",
        "system.disk_full",
        "system.memory_low",
        "system.resource_high",
    ]
    assert all(e["source"] == "system" for e in alarms)
    disk = next(e for e in alarms if e["type"] == "system.disk_full")
    assert disk["data"]["mount_point"] == "/" and disk["data"]["available_bytes"] > 0


def test_serve_refuses_a_bad_monitor_config(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    write_config(home, "[monitor]\ninterval = 0\n")
    result = run_cli("serve", "--home", str(home))
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "error: [monitor] interval must be above 0 seconds, not 0.0"
    )
    assert not (home / "sloth.sock").exists()
