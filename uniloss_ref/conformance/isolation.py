"""Running a port in a child process, so that nothing it does can stop or fool the checker.

Why a process and not a watchdog thread: Python cannot stop a thread, and a signal alarm
cannot interrupt native code (a framework's kernel, a C extension in a loop) or a port that
catches the exception; ``sys.exit`` can be caught in-process but ``os._exit`` and a crash in
native code cannot. A child process can always be killed, and its death observed.

The protocol, one JSON object per line:

* the parent starts ``python -c <worker>`` with the port's ``MODULE:FUNCTION`` and a
  ``PYTHONPATH`` that finds this package and the current directory; the worker keeps the
  pipes it was given for the protocol and points its own file descriptors 0 and 1 at
  ``/dev/null`` and stderr, so a port that reads stdin or prints (even from native code)
  cannot corrupt the protocol;
* the worker imports the port and answers ``{"event": "ready"}`` or
  ``{"event": "load-failed", "detail": ...}``;
* for each case the parent sends the case without its expected values and waits for
  ``{"event": "outcome", ...}`` at most ``timeout`` seconds. A case that runs over, or a
  worker that dies (exit status or signal), is an error for that case; the worker's process
  group is killed and a new worker is started for the next case. Loading has its own,
  longer limit (importing a framework on a busy machine takes a while). After
  :data:`MAX_LOST_IN_A_ROW` such cases in a row the remaining cases are reported as not
  run, so a port that hangs everywhere costs a few time limits, not one per case.

Arrays come back as shape and a flat list of floats (JSON keeps every float64 exactly, NaN
and infinities included); nothing is unpickled. The worker's stderr goes through a pipe of
which only the last :data:`STDERR_TAIL_BYTES` are kept, in memory (a port that writes
gigabytes there costs neither memory nor disk); its last line is quoted when the port fails
to load or its process dies.

A worker never outlives the checker (:func:`~uniloss_ref.experiments.children.die_with_parent`),
and when a case runs over its time limit the worker is killed with everything it started,
even a process that left its process group with ``setsid`` while holding the pipes
(:func:`~uniloss_ref.experiments.children.kill_tree`).

Isolation protects the checker from a port's accidents; a port written to deceive the
checker (writing forged answers to the protocol pipe) is out of scope.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..experiments.children import child_env, die_with_parent, kill_tree
from .verify import Outcome, call_port, describe_exception, load_port

#: Cases lost in a row (timed out, or the process died) after which the rest are not run.
MAX_LOST_IN_A_ROW = 3

#: The most of a worker's stderr kept (its end), to quote when its process dies.
STDERR_TAIL_BYTES = 64 << 10

_WORKER = "from uniloss_ref.conformance.isolation import worker_main; worker_main()"


class PortLoadError(ValueError):
    """The port named by ``MODULE:FUNCTION`` could not be loaded in its process."""


# ---------------------------------------------------------------------------------------
# The child's side
# ---------------------------------------------------------------------------------------


def _encode(outcome: Outcome) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in outcome.values.items():
        if isinstance(value, str):
            values[key] = {"error": value}
        else:
            values[key] = {"shape": list(value.shape), "data": value.ravel().tolist()}
    return {
        "kind": outcome.kind,
        "detail": outcome.detail,
        "values": values,
        "dtypes": outcome.dtypes,
        "unknown": list(outcome.unknown),
        "changed": list(outcome.changed),
    }


def worker_main() -> None:
    """The child process: load the port named in ``sys.argv[1]``, answer cases until EOF."""
    die_with_parent()
    from .reference import case_inputs

    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    sys.stdin, sys.stdout = open(os.devnull, encoding="utf-8"), sys.stderr

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    spec = sys.argv[1]
    try:
        port = load_port(spec)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        if isinstance(err, (ValueError, TypeError)) and str(err).startswith("port "):
            detail = str(err)
        else:
            detail = f"port {spec!r}: " + describe_exception(err, "importing it")
        reply({"event": "load-failed", "detail": detail})
        return
    reply({"event": "ready"})
    for line in requests:
        case = json.loads(line)
        reply({"event": "outcome", "outcome": _encode(call_port(port, case_inputs(case)))})


# ---------------------------------------------------------------------------------------
# The parent's side
# ---------------------------------------------------------------------------------------


def _decode(message: Mapping[str, Any]) -> Outcome:
    values: dict[str, np.ndarray | str] = {}
    for key, value in message["values"].items():
        if "error" in value:
            values[key] = value["error"]
        else:
            values[key] = np.array(value["data"], dtype=np.float64).reshape(value["shape"])
    return Outcome(
        message["kind"],
        message["detail"],
        values,
        dict(message["dtypes"]),
        tuple(message["unknown"]),
        tuple(message["changed"]),
    )


_TIMEOUT, _DIED = "timeout", "died"


class _Tail:
    """The last ``keep`` bytes written to a pipe, read by a thread as they come."""

    def __init__(self, fd: int, keep: int = STDERR_TAIL_BYTES) -> None:
        self.fd, self.keep, self.data = fd, keep, bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                with self.lock:
                    self.data += chunk
                    del self.data[: -self.keep]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        """What the end of the pipe holds now (after waiting briefly for its last bytes)."""
        self.thread.join(timeout=2)
        with self.lock:
            return self.data.decode("utf-8", "replace")


class _Worker:
    """One child process running the port."""

    def __init__(self, spec: str) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root, os.getcwd(), os.environ.get("PYTHONPATH", "")]
        env = child_env({**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)})
        read_end, write_end = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER, spec],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=write_end,
                env=env,
                text=True,
                encoding="utf-8",
                # Its own process group, so that killing it also ends whatever it started.
                start_new_session=os.name == "posix",
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.stderr = _Tail(read_end)
        self.replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            for line in stdout:
                self.replies.put(line)
        except (OSError, ValueError):
            pass
        finally:  # closed here, not by close(): closing it while this thread reads blocks
            try:
                stdout.close()
            except OSError:
                pass
        self.replies.put(None)

    def send(self, message: Mapping[str, Any]) -> bool:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def receive(self, timeout: float) -> dict[str, Any] | str:
        """The next message, or ``"timeout"``, or ``"died"`` when the process ended."""
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            return _TIMEOUT
        if line is None:
            return _DIED
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            return _DIED
        return message if isinstance(message, dict) else _DIED

    def death(self) -> str:
        """How the process ended, and the last line it wrote to stderr."""
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        if status is None:
            how = "stopped answering"
        elif status < 0:
            try:
                how = f"was killed by signal {signal.Signals(-status).name}"
            except ValueError:
                how = f"was killed by signal {-status}"
        else:
            how = f"exited with status {status}"
        tail = self.stderr_tail()
        return f"the port's process {how}" + (f"; its last output: {tail}" if tail else "")

    def stderr_tail(self) -> str:
        lines = [line.strip() for line in self.stderr.text().splitlines()]
        lines = [line for line in lines if line]
        return lines[-1][:300] if lines else ""

    def close(self) -> None:
        if self.process.poll() is None:  # (a reaped process's id may already be another's)
            # Also what it started, even a process that left its group while holding a pipe.
            kill_tree(self.process.pid, group=os.name == "posix")
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _start(spec: str, timeout: float) -> _Worker:
    """A worker with the port loaded; :class:`PortLoadError` if it does not load in time."""
    worker = _Worker(spec)
    message = worker.receive(timeout)
    if isinstance(message, dict) and message.get("event") == "ready":
        return worker
    if isinstance(message, dict) and message.get("event") == "load-failed":
        detail = str(message.get("detail"))
    elif message == _TIMEOUT:
        detail = f"port {spec!r}: loading it took more than {timeout:g} s (see --load-timeout)"
    else:
        detail = f"port {spec!r}: while loading it, " + worker.death()
    worker.close()
    raise PortLoadError(detail)


def run_isolated(
    spec: str, cases: Sequence[Mapping[str, Any]], timeout: float, load_timeout: float
) -> Iterator[Outcome]:
    """The outcome of each case, the port run in a child process (see the module docstring).

    Raises
    ------
    PortLoadError
        If the port cannot be loaded at the start (a missing module, an exception, an exit
        or a hang while importing it).
    """
    worker: _Worker | None = _start(spec, load_timeout)
    lost = 0
    try:
        for case in cases:
            if lost >= MAX_LOST_IN_A_ROW:
                yield Outcome(
                    "error",
                    f"not run: the port's process was lost on {lost} cases in a row "
                    "(timed out or died)",
                )
                continue
            if worker is None:
                try:
                    worker = _start(spec, load_timeout)
                except PortLoadError as err:
                    lost += 1
                    yield Outcome("error", f"restarting the port failed: {err}")
                    continue
            request = {key: value for key, value in case.items() if key != "expected"}
            message = worker.receive(timeout) if worker.send(request) else _DIED
            if isinstance(message, dict) and message.get("event") == "outcome":
                lost = 0
                try:
                    yield _decode(message["outcome"])
                except (KeyError, TypeError, ValueError):
                    yield Outcome("error", "the port's process sent an unreadable answer")
                continue
            if message == _TIMEOUT:
                detail = f"the port did not finish this case within {timeout:g} s (see --timeout)"
            else:
                detail = worker.death()
            worker.close()
            worker, lost = None, lost + 1
            yield Outcome("error", detail)
    finally:
        if worker is not None:
            worker.close()
