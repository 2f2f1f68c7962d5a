"""Textures of the demo line: rubber belt, side rails, machined plates, lighting, sensor noise.

Everything is float32 BGR in 0..255 and drawn with vectorised numpy/OpenCV calls from a
``numpy.random.Generator`` the caller passes in, so a seed reproduces a scene exactly and
no module-level random state exists. Defects live in ``demo.defects``; composing a frame
lives in ``demo.scene``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.float32]
"""float32 image in 0..255 (HxWx3 BGR, or HxW for masks and gains)."""

_AA_BITS = 4
_AA_SCALE = 1 << _AA_BITS


def blurred_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    sigma_xy: tuple[float, float],
    *,
    wrap_x: bool = False,
) -> Image:
    """Gaussian noise blurred to a texture scale and renormalised to unit std.

    Unequal sigmas give anisotropic grain (brushed metal, belt wear); ``wrap_x`` makes the
    texture tile seamlessly along x, so a belt loop has no visible splice where it wraps.
    """
    h, w = shape
    sx, sy = sigma_xy
    noise = rng.standard_normal((h, w), dtype=np.float32)
    if wrap_x:
        pad = min(w, int(3 * sx) + 1)
        noise = np.concatenate([noise[:, -pad:], noise, noise[:, :pad]], axis=1)
    # Two box passes approximate a Gaussian at a cost independent of sigma (long grain is cheap).
    kernel = (_box_width(sx), _box_width(sy))
    blurred = cv2.blur(
        cv2.blur(noise, kernel, borderType=cv2.BORDER_REFLECT), kernel, borderType=cv2.BORDER_REFLECT
    )
    if wrap_x:
        blurred = blurred[:, pad : pad + w]
    out = np.asarray(blurred, dtype=np.float32)
    return out / max(float(out.std()), 1e-6)


def _box_width(sigma: float) -> int:
    """Odd box width whose two-pass blur has variance sigma² ((w² - 1) / 6 = sigma²)."""
    width = round(float(np.sqrt(6.0 * sigma * sigma + 1.0)))
    return width if width % 2 == 1 else width + 1


def gray_bgr(gray: Image, tint_bgr: tuple[float, float, float]) -> Image:
    """HxW intensity → HxWx3 BGR, each channel offset by its tint."""
    return np.stack([gray + t for t in tint_bgr], axis=-1).astype(np.float32)


def aa_point(x: float, y: float) -> tuple[int, int]:
    """Sub-pixel point for OpenCV drawing calls with ``shift=_AA_BITS``."""
    return round(x * _AA_SCALE), round(y * _AA_SCALE)


def aa_disk(mask: npt.NDArray[np.uint8], center: tuple[float, float], radius: float) -> None:
    """Draw a filled anti-aliased disk (value 255) with sub-pixel centre and radius."""
    cv2.circle(mask, aa_point(*center), round(radius * _AA_SCALE), 255, -1, cv2.LINE_AA, _AA_BITS)


def aa_polyline(mask: npt.NDArray[np.uint8], points: npt.NDArray[np.float64], thickness_px: int) -> None:
    """Draw an anti-aliased open polyline (value 255) through float points."""
    pts = np.round(points * _AA_SCALE).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(mask, [pts], False, 255, max(1, thickness_px), cv2.LINE_AA, _AA_BITS)


# --- conveyor ---------------------------------------------------------------------------


def render_belt(rng: np.random.Generator, length_px: int, height_px: int, *, wrap: bool) -> Image:
    """A strip of dark rubber belt: mottled grain, wear streaks along travel, dust, splices.

    The strip scrolls under the camera with the parts on it; ``wrap`` makes it a seamless
    loop for the video, a plain strip is enough for a single data-set frame.
    """
    shape = (height_px, length_px)
    base = rng.uniform(36.0, 50.0)
    gray = np.full(shape, base, dtype=np.float32)
    gray += 2.5 * rng.standard_normal(shape, dtype=np.float32)
    gray += rng.uniform(2.0, 4.0) * blurred_noise(rng, shape, (4.0, 4.0), wrap_x=wrap)
    gray += rng.uniform(1.5, 3.0) * blurred_noise(rng, shape, (40.0, 0.8), wrap_x=wrap)
    dust = (rng.random(shape, dtype=np.float32) < 6e-4).astype(np.float32)
    gray += 30.0 * np.asarray(cv2.GaussianBlur(dust, (0, 0), 0.8), dtype=np.float32)

    seams = np.zeros(shape, dtype=np.uint8)
    x = rng.uniform(0.0, 900.0)
    while x < length_px:
        slant = rng.uniform(-0.25, 0.25) * height_px
        pts = np.array([[x, -2.0], [x + slant, height_px + 2.0]])
        aa_polyline(seams, pts, int(rng.integers(3, 6)))
        x += rng.uniform(700.0, 1100.0)
    seam = seams.astype(np.float32) / 255.0
    lip = np.roll(seam, 3, axis=1)
    gray += -14.0 * seam + 8.0 * np.clip(lip - seam, 0.0, 1.0)
    return gray_bgr(gray, (1.5, 0.5, 0.0))


def render_rails(
    rng: np.random.Generator, width_px: int, height_px: int, belt_rows: tuple[int, int]
) -> Image:
    """Static steel side guides above and below the belt, with bolts and edge shadows."""
    top, bottom = belt_rows
    gray = np.full((height_px, width_px), rng.uniform(95.0, 120.0), dtype=np.float32)
    gray += 4.0 * blurred_noise(rng, (height_px, width_px), (30.0, 0.7))
    rows = np.arange(height_px, dtype=np.float32)[:, None]
    gray += 10.0 * np.cos(rows / 9.0)  # rolled profile of the guide
    bolts = np.zeros((height_px, width_px), dtype=np.uint8)
    pitch = rng.uniform(110.0, 150.0)
    for x in np.arange(rng.uniform(0.0, pitch), width_px, pitch):
        aa_disk(bolts, (float(x), top / 2.0), 5.0)
        aa_disk(bolts, (float(x), (bottom + height_px) / 2.0), 5.0)
    gray -= 45.0 * bolts.astype(np.float32) / 255.0
    shade = np.clip(1.0 - np.abs(rows - top) / 6.0, 0.0, 1.0)
    shade += np.clip(1.0 - np.abs(rows - bottom) / 6.0, 0.0, 1.0)
    gray -= 40.0 * shade
    return gray_bgr(gray, (3.0, 1.0, 0.0))


def lighting_gain(rng: np.random.Generator, width_px: int, height_px: int) -> Image:
    """Multiplicative HxWx1 gain: a tilted light falling off across the frame, plus vignette."""
    ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    u = xs / width_px - 0.5
    v = ys / height_px - 0.5
    tilt_x, tilt_y = rng.uniform(-0.18, 0.18, size=2)
    vignette = rng.uniform(0.15, 0.35)
    gain = 1.0 + tilt_x * u + tilt_y * v - vignette * (u * u + v * v)
    return np.asarray(gain[:, :, None], dtype=np.float32)


@dataclass(frozen=True)
class NoiseBank:
    """Pre-drawn sensor noise; a frame takes a random window, so noise costs no RNG per pixel."""

    fields: Image  # (count, H + margin, W + margin, 3)
    height_px: int
    width_px: int

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        width_px: int,
        height_px: int,
        *,
        sigma: float = 3.0,
        count: int = 3,
        margin_px: int = 48,
    ) -> NoiseBank:
        shape = (count, height_px + margin_px, width_px + margin_px, 3)
        fields = rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)
        return cls(fields=fields, height_px=height_px, width_px=width_px)

    def sample(self, rng: np.random.Generator) -> Image:
        """An HxWx3 view of one field at a random offset."""
        count, hm, wm, _ = self.fields.shape
        k = int(rng.integers(count))
        dy = int(rng.integers(hm - self.height_px + 1))
        dx = int(rng.integers(wm - self.width_px + 1))
        return self.fields[k, dy : dy + self.height_px, dx : dx + self.width_px]


# --- machined plate ---------------------------------------------------------------------


def distance_inside(mask: npt.NDArray[np.uint8]) -> Image:
    """Pixel distance to the nearest zero of ``mask``, counting everything outside the array as zero.

    OpenCV's distance transform ignores the array border; a plate fills its array edge to
    edge, so without the zero frame its straight sides would be "infinitely" far inside.
    """
    framed = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(framed, cv2.DIST_L2, 3)
    return np.asarray(dist[1:-1, 1:-1], dtype=np.float32)


@dataclass(frozen=True)
class Hole:
    """A drilled through-hole: the realistic round distractor a dent must be told apart from."""

    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class Plate:
    """An unposed machined plate in its own pixel frame (the plate spans the whole array)."""

    image: Image  # HxWx3
    alpha: Image  # HxW, 0 outside the rounded outline and inside through-holes
    holes: tuple[Hole, ...]
    light_dir: tuple[float, float]  # unit vector towards the light, in plate pixels


def _rounded_rect_mask(width_px: int, height_px: int, radius: float) -> npt.NDArray[np.uint8]:
    mask = np.zeros((height_px, width_px), dtype=np.uint8)
    r = int(radius)
    cv2.rectangle(mask, (r, 0), (width_px - 1 - r, height_px - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (width_px - 1, height_px - 1 - r), 255, -1)
    for cx, cy in ((r, r), (width_px - 1 - r, r), (r, height_px - 1 - r)):
        aa_disk(mask, (cx, cy), radius)
    aa_disk(mask, (width_px - 1 - r, height_px - 1 - r), radius)
    return mask


def _hole_layout(rng: np.random.Generator, width_px: int, height_px: int) -> tuple[Hole, ...]:
    """Two to four holes near the corners, sometimes a pair on the centre line instead."""
    radius = rng.uniform(9.0, 14.0)
    inset = radius + rng.uniform(12.0, 22.0)
    corners = [
        (inset, inset),
        (width_px - inset, inset),
        (inset, height_px - inset),
        (width_px - inset, height_px - inset),
    ]
    layout = rng.integers(3)
    if layout == 0:
        picked = corners
    elif layout == 1:
        picked = [corners[0], corners[3]] if rng.random() < 0.5 else [corners[1], corners[2]]
    else:
        picked = [(inset, height_px / 2.0), (width_px - inset, height_px / 2.0)]
    return tuple(Hole(x, y, radius * rng.uniform(0.95, 1.05)) for x, y in picked)


def render_plate(rng: np.random.Generator, width_px: int, height_px: int) -> Plate:
    """A brushed steel plate with rounded corners, bevelled edges and drilled holes."""
    shape = (height_px, width_px)
    gray = np.full(shape, rng.uniform(140.0, 175.0), dtype=np.float32)
    gray += rng.uniform(5.0, 8.0) * blurred_noise(rng, shape, (14.0, 0.6))
    gray += rng.uniform(2.0, 3.5) * blurred_noise(rng, shape, (3.0, 0.5))
    ys, xs = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    angle = rng.uniform(0.0, 2 * np.pi)
    along = (np.cos(angle) * (xs - width_px / 2) + np.sin(angle) * (ys - height_px / 2)) / width_px
    gray += rng.uniform(8.0, 16.0) * along
    gray += rng.uniform(8.0, 18.0) * np.exp(-((along - rng.uniform(-0.3, 0.3)) ** 2) / 0.02)

    outline = _rounded_rect_mask(width_px, height_px, rng.uniform(8.0, 16.0))
    dist = distance_inside(outline)
    gray -= 30.0 * np.clip(1.0 - dist / 3.0, 0.0, 1.0)
    gray += 18.0 * np.exp(-((dist - 4.0) ** 2) / 1.5)

    holes = _hole_layout(rng, width_px, height_px)
    bores = np.zeros(shape, dtype=np.uint8)
    chamfers = np.zeros(shape, dtype=np.uint8)
    light = rng.uniform(-2.4, -0.8)  # the light sits up and to one side of the line
    light_dir = (float(np.cos(light)), float(np.sin(light)))
    for hole in holes:
        aa_disk(chamfers, (hole.x, hole.y), hole.radius + 2.5)
        aa_disk(bores, (hole.x, hole.y), hole.radius)
    # The bore wall facing the light is seen as a grey crescent; the rest shows the belt.
    wall = np.clip((bores.astype(np.float32) - _shifted_disks(holes, shape, light_dir)) / 255.0, 0, 1)
    chamfer = np.clip((chamfers.astype(np.float32) - bores.astype(np.float32)) / 255.0, 0, 1)
    gray += 40.0 * chamfer
    gray = gray * (1.0 - wall) + 75.0 * wall

    alpha = outline.astype(np.float32) / 255.0
    alpha *= 1.0 - np.clip(bores.astype(np.float32) / 255.0 - wall, 0.0, 1.0)
    tint = (rng.uniform(2.0, 6.0), rng.uniform(0.0, 3.0), 0.0)
    return Plate(image=gray_bgr(gray, tint), alpha=alpha, holes=holes, light_dir=light_dir)


def _shifted_disks(holes: tuple[Hole, ...], shape: tuple[int, int], light_dir: tuple[float, float]) -> Image:
    """Bores shifted away from the light; the part of a bore they leave uncovered is its lit wall."""
    mask = np.zeros(shape, dtype=np.uint8)
    for hole in holes:
        aa_disk(mask, (hole.x - 3.0 * light_dir[0], hole.y - 3.0 * light_dir[1]), hole.radius)
    return mask.astype(np.float32)


__all__ = [
    "Hole",
    "Image",
    "NoiseBank",
    "Plate",
    "aa_disk",
    "aa_point",
    "aa_polyline",
    "blurred_noise",
    "distance_inside",
    "gray_bgr",
    "lighting_gain",
    "render_belt",
    "render_plate",
    "render_rails",
]
