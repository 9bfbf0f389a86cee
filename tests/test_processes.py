"""``shape.processes``: telling a live process id from a dead one."""

from __future__ import annotations

import os
import subprocess
import sys

from shape.processes import process_alive


def test_this_process_is_alive():
    assert process_alive(os.getpid())


def test_a_process_that_ended_is_not():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert not process_alive(child.pid)
