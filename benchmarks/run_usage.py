"""What a timed run used, read from /proc when it starts and when its last mail is accepted:
the CPU of the process under test, of its child processes, of Dovecot and of this process
(which runs the test relay), and the peak memory of the process under test and its children.

Once every process is busy, a backlog drains only as fast as the machine's cores allow. A
product/floor ratio alone cannot say whether the product was slow or the machine was full;
these figures can. The floor sends over one connection, one mail after another, so its run
keeps about one core busy; the product's keeps both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Process:
    pid: int
    parent: int
    started: int  # clock ticks after boot: with the pid, tells a reused pid from the first
    ticks: int  # user plus system time


def _read(pid: int) -> _Process | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # ended meanwhile
    fields = stat[stat.rindex(")") + 2:].split()
    return _Process(pid=pid, parent=int(fields[1]), started=int(fields[19]),
                    ticks=int(fields[11]) + int(fields[12]))


def _every_process() -> dict[int, _Process]:
    found = (_read(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return {process.pid: process for process in found if process is not None}


def _descends_from(process: _Process, ancestor_pid: int, processes: dict[int, _Process]) -> bool:
    parent = processes.get(process.parent)
    while parent is not None:
        if parent.pid == ancestor_pid:
            return True
        parent = processes.get(parent.parent)
    return False


def _peak_rss_mb(pid: int) -> float:
    """The process's own high-water mark (VmHWM). Not wait4's ru_maxrss: Linux carries the
    launching process's peak into a child across exec, so a product started by this grown
    harness reported the harness's size."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class RunUsage:
    """CPU seconds per group of processes over `wall` seconds, and peak RSS in MB of the
    process under test and of the largest of its children."""

    cpu_seconds: dict[str, float]
    wall: float
    peak_rss_mb: dict[str, float]

    def describe_cpu(self) -> str:
        groups = ", ".join(f"{name} {seconds:.1f} s" for name, seconds
                           in self.cpu_seconds.items() if seconds >= 0.05)
        return f"{groups} of CPU in {self.wall:.1f} s"

    def describe_memory(self) -> str:
        return ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_rss_mb.items() if mb)


class UsageMeter:
    """Made when the timed run starts; `read()` when it ends. Processes that ended inside the
    window are not counted (none of the product's do before its measured moment)."""

    def __init__(self, *, started_at: float) -> None:
        self.started_at = started_at
        self._start = {(p.pid, p.started): p.ticks for p in _every_process().values()}

    def read(self, *, subject_pid: int, subject: str, dovecot_pids: Iterable[int],
             now: float) -> RunUsage:
        processes = _every_process()
        dovecot = set(dovecot_pids)
        children = f"{subject}'s child processes"
        cpu = {subject: 0.0, children: 0.0, "Dovecot": 0.0, "relay and harness": 0.0,
               "other processes": 0.0}
        largest_child = 0.0
        for process in processes.values():
            if process.pid == subject_pid:
                group = subject
            elif _descends_from(process, subject_pid, processes):
                group = children
                largest_child = max(largest_child, _peak_rss_mb(process.pid))
            elif process.pid in dovecot:
                group = "Dovecot"
            elif process.pid == os.getpid():
                group = "relay and harness"
            else:
                group = "other processes"
            used = process.ticks - self._start.get((process.pid, process.started), 0)
            cpu[group] += max(0, used) / TICKS_PER_SECOND
        return RunUsage(cpu_seconds=cpu, wall=now - self.started_at,
                        peak_rss_mb={subject: _peak_rss_mb(subject_pid),
                                     "largest of its children": largest_child})
