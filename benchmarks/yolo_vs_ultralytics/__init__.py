"""Issue 16's performance target: lepton-edge against Ultralytics' own ``predict`` on the same
YOLOv8n and the same 640x480 video, in one run (``__main__.py``).

Ultralytics is AGPL and never a dependency of lepton: its side runs in a separate benchmark
venv (``ultra_venv.py`` says how to make it) as child processes of ``ultra_export.py`` and
``ultra_predict.py``, which import nothing of lepton; ``record.py`` is the one module both
sides share, and it imports only the standard library.
"""
