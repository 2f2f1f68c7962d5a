"""Which folders make up the ``lepton`` import namespace of the ``lepton-line`` wheel.

The repository keeps its stages as top-level folders (``edge/``, ``systemd/``, ``schemas/``);
installed, they are ``lepton.edge`` and the data packages beside it. The export side
(``export/``, ``calibration/``) is a distribution of its own, ``packaging/export/``, so a
line-side box carries none of its code. Everything else is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

CODE = {"lepton.edge": "edge"}
# Files the installed daemon points its users at: the unit, the example configs, the broker
# config, the JSON Schemas (``lepton-edge install-service`` writes them out).
DATA = {
    "lepton.systemd": ("systemd", ["*.service", "*.toml", "*.conf", "*.md"]),
    "lepton.schemas": ("schemas", ["*.json"]),
}

packages = ["lepton"]
package_dir = {"lepton": "lepton"}
for name, folder in CODE.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
for name, (folder, _) in DATA.items():
    package_dir[name] = folder
    packages.append(name)

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"lepton.edge": ["py.typed"]} | {name: globs for name, (_, globs) in DATA.items()},
    include_package_data=False,
)
