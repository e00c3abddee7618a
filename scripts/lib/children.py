"""Signals passed on to children, for the Python scripts (scripts/bench, scripts/baselines).

Python ends at once on SIGTERM and SIGHUP and leaves the tool it started
training; on SIGINT it raises KeyboardInterrupt, which subprocess.run answers
with SIGKILL and a Popen of our own not at all. After forward_signals(), each
of the three goes on to every child still running as TERM (the charrnn tools
then stop and write nothing), the script waits for them, removes its scratch
folders, and dies of the signal it got (status 128 + its number). Every
subprocess.Popen, subprocess.run's included, is tracked from then on.
"""
import atexit
import os
import shutil
import signal
import subprocess
import weakref

_children = weakref.WeakSet()
_scratch_folders = []


class _TrackedPopen(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _children.add(self)


def remove_at_exit(folder):
    """Removes `folder` (a scratch folder of this script) when it ends, by a signal too."""
    _scratch_folders.append(folder)


def _remove_scratch_folders():
    for folder in _scratch_folders:
        shutil.rmtree(folder, ignore_errors=True)


def _on_signal(number, _frame):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # no second signal interrupts the cleanup
    running = [child for child in list(_children) if child.poll() is None]  # poll() also notes those reaped by os.wait4
    for child in running:
        child.send_signal(signal.SIGTERM)
        for pipe in (child.stdout, child.stderr):
            if pipe:
                pipe.close()  # a child blocked writing to us gets EPIPE rather than waiting
    for child in running:
        child.wait()
    _remove_scratch_folders()
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)
    os._exit(128 + number)  # if the signal did not end the process


def forward_signals():
    subprocess.Popen = _TrackedPopen
    atexit.register(_remove_scratch_folders)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
