"""lepton.edge: the line-side daemon (``lepton-edge``) and the contracts every other package reads.

Owns the bundle manifest, preprocessing, the event schema, topics, the config and exit codes,
and the daemon that runs a bundle on camera frames and publishes events. Imports nothing of
lepton's outside this package, and never torch; start at ``service/app.py``.
"""
