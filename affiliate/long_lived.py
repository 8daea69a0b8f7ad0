"""What lives as long as the process, kept out of the cyclic garbage collector's way.

A process's modules, classes, tables and loaded app are hundreds of thousands of objects the
collector would scan in every full collection for nothing: tens of milliseconds each, during
which a web worker answers no one and a scheduler's request, already let go by the shared
limiter, waits to be sent (bench/RESULTS.md). A module of its own, so that the command
index and a bench can use it without importing the app.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def long_lived_objects() -> Iterator[None]:
    """Importing a command's module makes ~160 000 objects that live as long as the process
    (modules, classes, tables, schemas). Python's cyclic collector would scan them again and
    again while they are made, and once more at exit: a fifth of `affiliate status`. So it
    is held off meanwhile, and what was made is then left out of its later collections
    (gc.freeze); the few hundred objects of garbage an import leaves stay with it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def settle() -> None:
    """Called where the app is served or the scheduler runs, once it is loaded: what loading
    made lives as long as the process, so the garbage collector need not scan it in every
    full collection again (gc.freeze; ~140 000 objects, ~60 ms of each full collection:
    bench/RESULTS.md). A web worker answers nothing during a collection; a scheduler's request
    let go by the shared limiter waits for it and may reach a source later than its turn.
    Not in create_app: a process that makes many apps (the tests) would keep their garbage."""
    gc.collect()
    gc.freeze()
