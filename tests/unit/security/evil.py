"""An object whose unpickling creates a marker file: proof that a payload was (or was not) unpickled."""

from __future__ import annotations

import os
import pickle


class Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(marker: str) -> bytes:
    return pickle.dumps(Evil(marker))
