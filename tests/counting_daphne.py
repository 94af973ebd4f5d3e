"""daphne that prints, on SIGUSR1, its live Python objects and open connections.

A leak shows as objects, not only as memory, which CPython keeps for reuse.

Used by the fault suite as `python -m tests.counting_daphne <daphne arguments>`.
"""

import gc
import signal
import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server


def count(*_: object) -> None:
    gc.collect()
    objects = gc.get_objects()
    connections = sum(len(o.connections) for o in objects if isinstance(o, Server))
    print(f"OBJECTS {len(objects)} CONNECTIONS {connections}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, count)
    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()
