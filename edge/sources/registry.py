"""The one table of frame-source kinds: config model and implementation, by ``kind``.

No discovery by subclassing or import side effects: a kind exists because it is listed
here. Implementations are imported only when used, so a box without a camera backend
can still validate a file-source config.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from lepton.edge.errors import SourceError
from lepton.edge.sources.configs import CameraSourceConfig, FileSourceConfig, ImageFolderSourceConfig

if TYPE_CHECKING:
    from lepton.edge.sources.base import FrameSource

SourceConfig = Annotated[
    FileSourceConfig | ImageFolderSourceConfig | CameraSourceConfig,
    Field(discriminator="kind"),
]

SOURCE_KINDS: dict[str, str] = {
    "camera": "lepton.edge.sources.camera_process:create_camera",
    "file": "lepton.edge.sources.video_file:VideoFileSource",
    "images": "lepton.edge.sources.image_folder:ImageFolderSource",
}


def create_source(config: FileSourceConfig | ImageFolderSourceConfig | CameraSourceConfig) -> FrameSource:
    """Instantiate (not open) the source for a config; the constructor touches no device."""
    module_name, class_name = SOURCE_KINDS[config.kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SourceError(
            f"source kind {config.kind!r} (camera {config.camera}): cannot import {module_name} "
            f"({err}); install the package it needs: pip install 'lepton-line[cpu]'"
        ) from err
    source: FrameSource = getattr(module, class_name)(config)
    return source


__all__ = ["SOURCE_KINDS", "SourceConfig", "create_source"]
