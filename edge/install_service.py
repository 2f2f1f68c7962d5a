"""Set a line-side box up for the service: user, directories, config, unit. Idempotent.

What the systemd README lists as commands, done by the installed package itself, so that
the unit's ``ExecStart`` names *this* install's ``lepton-edge`` and its ``Documentation=`` a
file that exists. Each step checks before it acts and reports what it did or found; an
existing config is never overwritten (it is the operator's), an outdated unit is replaced.
``root`` prefixes every path (image builders, tests); with it, the user is not created and
systemd is not told, only the commands to do so are printed.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lepton.edge.atomic_write import write_bytes_atomic
from lepton.edge.shipped_files import CONFIG_EXAMPLE, UNIT, shipped_path


@dataclass(frozen=True)
class InstallPlan:
    user: str = "lepton"
    config_dir: Path = Path("/etc/lepton")
    state_dir: Path = Path("/var/lib/lepton")
    unit_dir: Path = Path("/etc/systemd/system")
    root: Path | None = None
    dry_run: bool = False

    def at(self, path: Path) -> Path:
        return self.root / path.relative_to("/") if self.root else path


def _executable() -> Path:
    """This install's ``lepton-edge`` (beside the interpreter running us)."""
    return Path(sys.executable).parent / "lepton-edge"


def render_unit(executable: Path, config: Path) -> str:
    """The shipped unit with this install's command and documentation path."""
    readme = shipped_path("README.md")
    lines = []
    for line in shipped_path(UNIT).read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={executable} run --config {config}"
        elif line.startswith("Documentation="):
            line = f"Documentation=file://{readme}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def install_service(plan: InstallPlan, say: Callable[[str], None]) -> list[str]:
    """Do (or, with ``dry_run``, describe) every step; returns the steps that changed something."""
    changed: list[str] = []

    def act(description: str, action: Callable[[], None]) -> None:
        say(("would " if plan.dry_run else "") + description)
        changed.append(description)
        if not plan.dry_run:
            action()

    useradd = [
        "useradd", "--system", "--home-dir", str(plan.state_dir), "--shell", "/usr/sbin/nologin",
        "--user-group", plan.user,
    ]  # fmt: skip
    if plan.root is not None:
        say(f"skipped (--root): create the user yourself if absent: {' '.join(useradd)}")
    elif _user_exists(plan.user):
        say(f"user {plan.user}: exists")
    else:
        act(f"create system user {plan.user}", lambda: _run(useradd))  # the unit adds group video

    gid = None if plan.root is not None else _group_id(plan.user)
    config_dir = plan.at(plan.config_dir)
    bundles = plan.at(plan.state_dir / "bundles")
    for path, mode in ((config_dir, 0o750), (bundles, 0o755)):
        if path.is_dir():
            say(f"{path}: exists")
        else:
            act(f"create {path} (mode {mode:o})", functools.partial(_make_dir, path, mode, gid))

    config = config_dir / "config.toml"
    if config.exists():
        say(f"{config}: exists, left as it is")
    else:
        example = shipped_path(CONFIG_EXAMPLE).read_bytes()
        act(
            f"write {config} from the annotated example (edit it)",
            lambda: _write(config, example, 0o640, gid),
        )

    unit = plan.at(plan.unit_dir) / UNIT
    text = render_unit(_executable(), plan.config_dir / "config.toml").encode()
    if unit.exists() and unit.read_bytes() == text:
        say(f"{unit}: up to date")
    else:
        verb = "update" if unit.exists() else "write"
        act(f"{verb} {unit}", lambda: _write(unit, text, 0o644, None))
        if plan.root is None and shutil.which("systemctl"):
            act("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"]))
    say(
        f"next: edit {plan.config_dir / 'config.toml'}, then "
        f"`{_executable()} check-config {plan.config_dir / 'config.toml'}` and "
        "`systemctl enable --now lepton-edge`"
    )
    return changed


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True)


def _make_dir(path: Path, mode: int, gid: int | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if gid is not None:
        os.chown(path, 0, gid)


def _write(path: Path, data: bytes, mode: int, gid: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    os.chmod(path, mode)
    if gid is not None:
        os.chown(path, 0, gid)


__all__ = ["InstallPlan", "install_service", "render_unit"]
