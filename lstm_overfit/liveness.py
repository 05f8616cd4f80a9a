"""Whether a run without its final summary is still running: the process it runs in,
recorded in its folder.

`process.json` names that process (host, pid, the kernel's boot id and the process's start
time) from the moment the run starts until its summary is written. A reader on the same host
tells a live process from a dead one, and from a later process that happens to reuse the pid;
on another host it cannot tell, and says so.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from lstm_overfit.storage import atomic_write_json

PROCESS_FILE = "process.json"
RUNNING, KILLED, UNKNOWN = "running", "killed", "unknown"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces): the 22nd field is the start time.
    return int(stat.rpartition(")")[2].split()[19])


def this_process() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "boot_id": _boot_id(),
        "start_ticks": _start_ticks(pid),
    }


def mark_running(folder: Path) -> None:
    """Record that this process runs the run in `folder`."""
    atomic_write_json(folder / PROCESS_FILE, this_process())


def clear_mark(folder: Path) -> None:
    """The run's summary is written: nothing runs in `folder` any more."""
    (folder / PROCESS_FILE).unlink(missing_ok=True)


def read_mark(folder: Path) -> dict[str, Any] | None:
    """The recorded process of a run that has not written its summary since starting."""
    try:
        mark = json.loads((folder / PROCESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and "pid" in mark else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def process_state(mark: dict[str, Any]) -> str:
    """RUNNING, KILLED (the process is gone), or UNKNOWN (another host: cannot tell)."""
    if os.name != "posix" or mark.get("host") != socket.gethostname():
        return UNKNOWN
    if mark.get("boot_id") and mark["boot_id"] != _boot_id():
        return KILLED  # the machine restarted since
    pid = int(mark["pid"])
    if not _alive(pid):
        return KILLED
    recorded, now = mark.get("start_ticks"), _start_ticks(pid)
    if recorded is not None and now is not None and recorded != now:
        return KILLED  # the pid belongs to a later process now
    return RUNNING
