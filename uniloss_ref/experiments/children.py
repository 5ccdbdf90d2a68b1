"""Child processes that never outlive the process that started them, and their whole trees.

``reproduce`` runs each ``train`` in a process of its own and the conformance checker runs a
port in one; neither may leave work running when it is killed outright (SIGKILL gives it no
chance to stop its children). So a parent starts its children with :func:`child_env`, which
names the parent in the environment, and each child calls :func:`die_with_parent` first
thing: on Linux it asks the kernel for SIGKILL when its parent ends (``PR_SET_PDEATHSIG``),
elsewhere a thread watches the parent; either way a child whose parent is already gone ends
at once. (Linux ties the child to the *thread* that started it: start a child from a thread
that lives as long as the child, as ``reproduce``'s threads do, each waiting for its run.)

:func:`kill_tree` ends a process and every process it started, even those that left its
process group or session (``setsid``), by stopping the tree before killing it, so that none
can fork or be orphaned in between.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

PARENT_ENV = "UNILOSS_REF_PARENT_PID"
"""The environment variable through which a child learns its parent's process id."""

_PR_SET_PDEATHSIG = 1


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) naming this process as the parent."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def _end_now() -> None:
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _kernel_watch() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; whether that was possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    _end_now()


def die_with_parent() -> None:
    """End this process when the parent that started it with :func:`child_env` ends.

    Does nothing in a process not started that way. The variable is removed from the
    environment, so this process's own children are not tied to its parent.
    """
    value = os.environ.pop(PARENT_ENV, "")
    if not value.isdigit():
        return
    parent = int(value)
    watched = _kernel_watch()
    if os.getppid() != parent:  # the parent ended before the watch was set
        _end_now()
    if not watched:
        threading.Thread(target=_poll_parent, args=(parent,), daemon=True).start()


def _children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from ``/proc`` (empty where there is no ``/proc``)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return children
    for entry in entries:
        try:
            text = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs, as ``/proc`` shows them now (Linux)."""
    children, found, queue = _children_by_parent(), [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int, *, group: bool = True) -> None:
    """SIGKILL process ``pid``, its process group (``group=True``) and all its descendants.

    The tree is stopped first (SIGSTOP) and collected again until no new process appears,
    so a process cannot escape by forking, or by leaving the group with ``setsid``, while
    it is being killed. Where there is no ``/proc`` only ``pid`` and its group are killed.
    """
    stop, kill = getattr(signal, "SIGSTOP", None), getattr(signal, "SIGKILL", signal.SIGTERM)
    if group and hasattr(os, "killpg"):
        try:
            os.killpg(pid, stop or kill)
        except (ProcessLookupError, PermissionError):
            pass
    tree = [pid]
    if stop is not None:
        _signal(tree, stop)
        for _ in range(100):  # each round stops what the previous one found
            found = [p for p in descendants(pid) if p not in tree]
            if not found:
                break
            _signal(found, stop)
            tree += found
    if group and hasattr(os, "killpg"):
        try:
            os.killpg(pid, kill)
        except (ProcessLookupError, PermissionError):
            pass
    _signal(tree, kill)
