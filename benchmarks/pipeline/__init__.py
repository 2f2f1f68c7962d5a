"""How close the whole lepton-edge pipeline comes to the bare engine, and how far it is
ahead of a hand-written loop: one command, one run, one machine (``__main__.py``).

Each measured program runs in its own child process, so CPU time and peak RSS are its own.
"""
