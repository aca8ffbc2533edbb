"""How many threads torch computes with: a policy that does not oversubscribe the cores.

Torch's OpenMP threads spin while they wait for each other, so when another process keeps one of
their cores busy, every parallel region waits for the thread that was preempted there: with 2
threads on 2 cores and one busy process a forward pass was measured 12x slower (docs/benchmarks.md),
and a quickstart went from minutes to 40. ``OMP_WAIT_POLICY=PASSIVE`` removes the stall but made a
quiet 2-thread evaluation 3-4x slower on the same machine, so it is not set. Instead every command
that computes chooses its thread count once, when its work starts (:func:`apply_thread_policy`):

1. the command's ``--threads N``;
2. else the environment variable ``ENRESNET_THREADS``;
3. else, when ``OMP_NUM_THREADS`` is set (by the user, or by torchrun), torch's count as it made it;
4. else the free cores (:func:`free_threads`): torch's own count (its physical cores) less the cores
   other processes keep busy, measured from ``/proc/stat`` over :data:`SAMPLE_SECONDS` on the cores
   this process may run on (elsewhere: the 1-minute load average), at least 1.

The library never calls this itself: the commands do (and :func:`enresnet.cli.main` gives an in-process caller
its own count back afterwards); a Python user may.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping

from .errors import ConfigError

ENV = "ENRESNET_THREADS"
SAMPLE_SECONDS = 0.2
"""How long the cores' use is sampled before a command starts its work."""
MAX_THREADS = 1024


def free_threads(cores: int, busy: float) -> int:
    """Threads for ``cores`` cores of which others keep ``busy`` (in cores, e.g. 1.3) in use: a core more than
    half used by others counts as taken; at least 1, at most ``cores``."""
    taken = max(0, math.ceil(busy - 0.5))
    return max(1, min(cores, cores - taken))


def _cpu_times(cpus: set[int] | None) -> tuple[float, float] | None:
    """(busy, total) clock ticks of ``cpus`` (None: every CPU) since boot, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            lines = [line.split() for line in stat if line.startswith("cpu") and line[3:4].isdigit()]
    except OSError:
        return None
    busy = total = 0.0
    for fields in lines:
        if cpus is None or int(fields[0][3:]) in cpus:
            ticks = [float(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


def busy_cores(cpus: set[int] | None = None, seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores of ``cpus`` that other processes keep busy: sampled from /proc/stat over ``seconds`` while this
    process sleeps, else the 1-minute load average, else None (unknown)."""
    before = _cpu_times(cpus)
    if before is not None:
        time.sleep(seconds)
        after = _cpu_times(cpus)
        elapsed = after[1] - before[1]
        if elapsed > 0:
            count = len(cpus) if cpus else os.cpu_count() or 1
            return count * (after[0] - before[0]) / elapsed
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def requested_threads(flag: int | None, environ: Mapping[str, str]) -> int | None:
    """The count asked for by ``--threads`` or :data:`ENV` (checked), else None."""
    if flag is not None:
        return flag
    text = environ.get(ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_THREADS:
        raise ConfigError(f"{ENV} must be a number of threads in [1, {MAX_THREADS}], got {text!r}; unset it for the "
                          f"automatic choice (the free cores)")
    return int(text)


def thread_count(flag: int | None = None) -> tuple[int, str | None]:
    """The threads a command computes with by the module's policy, and a note when other processes' load
    lowered the count (None otherwise). Imports torch."""
    import torch

    asked = requested_threads(flag, os.environ)
    if asked is not None:
        return asked, None
    own = torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS"):
        return own, None
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    busy = busy_cores(cpus)
    chosen = own if busy is None else free_threads(own, busy)
    if chosen == own:
        return own, None
    return chosen, (f"other processes keep {busy:.1f} cores busy: computing with {chosen} of {own} threads "
                    f"(--threads or {ENV} to choose)")


def apply_thread_policy(flag: int | None = None, quiet: bool = False) -> int:
    """Set torch's thread count by the policy (once, when a command starts its work); says why when the load
    lowered it, unless ``quiet``. Returns the count."""
    import torch

    count, note = thread_count(flag)
    torch.set_num_threads(count)
    if note and not quiet:
        print(note, file=sys.stderr)
    return count
