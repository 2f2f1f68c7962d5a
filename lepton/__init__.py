"""lepton: an edge inference runtime for factory lines, one import namespace.

``lepton.edge`` is the daemon and the contracts (``lepton-line``); ``lepton.export`` and
``lepton.calibration`` turn a trained model into a bundle (``lepton-line-export``, the
``export`` extra); ``lepton.systemd`` and ``lepton.schemas`` carry the deployment files.
In the repository each of these is a top-level folder (``setup.py`` maps them).
"""
