"""How fabtel's processes stop. A component stops on SIGTERM or SIGINT
(`stop_on_signals`) and is gone within `STOP_GRACE_S` whatever it waits for,
a broker that is gone included (`arm_exit_deadline`); a second signal ends it
at once. A command that starts components (the demo, the benchmarks, the
lab) turns SIGTERM into KeyboardInterrupt so its cleanup runs
(`interrupt_on_sigterm`), and its children die with it however it dies
(`dying_with_parent`). A thread that dies of an exception says so in one line
(`log_thread_deaths`).

May import: the standard library.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("fabtel")

STOP_GRACE_S = float(os.environ.get("FABTEL_STOP_GRACE_S", "5"))
_deadline_armed = threading.Event()


def arm_exit_deadline(component: str, seconds: float = STOP_GRACE_S) -> None:
    """End the process with one line if it still runs `seconds` from now
    (its clean stop waits on something that will not answer). Once per process."""
    if _deadline_armed.is_set():
        return
    _deadline_armed.set()

    def expire() -> None:
        log.warning("%s: not stopped %.0f s after the signal (waiting on something that does not answer, such as "
                    "a broker that is gone); exiting now", component, seconds)
        logging.shutdown()
        os._exit(1)
    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


def stop_on_signals(component: str) -> threading.Event:
    """An Event set by SIGTERM or SIGINT, the way every long-running component
    stops cleanly, with the exit deadline armed; a second signal exits at once."""
    stop = threading.Event()

    def handle(signum, _frame) -> None:
        if stop.is_set():
            os._exit(128 + signum)
        stop.set()
        arm_exit_deadline(component)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def log_thread_deaths() -> None:
    """An exception that ends a thread (a library's, while the process stops
    under it, say) is one line naming the thread, the exception and where it
    was raised, never a traceback on stderr."""
    import traceback

    def hook(args) -> None:
        if args.exc_type is SystemExit:
            return
        frames = traceback.extract_tb(args.exc_traceback)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        name = args.thread.name if args.thread is not None else "a thread"
        log.warning("%s ended by %s%s%s", name, args.exc_type.__name__, f": {args.exc_value}" if str(args.exc_value)
                    else "", where)
    threading.excepthook = hook


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does, so
    that a command's `finally` stops what it started. SIGINT too, even when
    it came in ignored: a shell without job control starts `cmd &` with
    SIGINT ignored, and Python then leaves it so (a demo started that way
    ran on through an explicit SIGINT)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def dying_with_parent(argv: list[str]) -> list[str]:
    """`argv` run so that it gets SIGTERM when the thread that started it
    dies (a SIGKILLed demo leaves no component behind): util-linux's setpriv
    sets PR_SET_PDEATHSIG and execs it. Not a preexec_fn: that makes Python
    fork instead of vfork, and gRPC's fork handlers abort a child forked
    from a process with gRPC threads (the demo's lab). Without setpriv, argv
    as it is."""
    import shutil
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else list(argv)


def die_with_parent() -> None:
    """This process (a forked worker) gets SIGTERM when the thread that forked
    it dies, as dying_with_parent gives an exec'd child: PR_SET_PDEATHSIG."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)    # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):                                  # not Linux
        pass
