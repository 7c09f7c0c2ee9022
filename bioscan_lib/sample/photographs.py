"""Synthetic specimen photographs in the style of the CBG robotic imager: one insect in a plastic well.

Each order has its own body plan; each family (any name) gets continuous traits from a stable hash of its
name; each specimen gets its own rotation, position, scale, colour jitter and leg pose from the generator.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image, ImageChops, ImageDraw

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]

ORDERS_DRAWN = (
    "Diptera",
    "Hymenoptera",
    "Coleoptera",
    "Hemiptera",
    "Lepidoptera",
    "Psocodea",
    "Thysanoptera",
    "Trichoptera",
    "Orthoptera",
    "Blattodea",
    "Neuroptera",
    "Ephemeroptera",
    "Dermaptera",
    "Archaeognatha",
    "Plecoptera",
    "Embioptera",
    "Strepsiptera",
    "Zoraptera",
    "Mecoptera",
)
TRAIT_JITTER = 0.05  # standard deviation of a specimen's traits around its family's, in trait units
LIGHT_FIELD_STEP = 8  # the smooth lighting is computed on a grid this many times coarser, then enlarged
NOISE_TILE_SEED = 20231  # the fixed noise field; each photograph takes it at a random shift
RIM_GLINTS = 70  # short bright reflections along the rim
REFERENCE_WIDTH = 720  # pixel sizes of rim lines and dust are given for this photograph width


@dataclass(frozen=True)
class ImagingCondition:
    """Colours, geometry, lighting and blemishes of one imaging setup."""

    background_rgb: RGB  # outside the well
    well_rgb: RGB  # the liquid-filled inside of the well
    rim_rgb: RGB  # the bright plastic rim
    well_radius: tuple[float, float]  # range of the well radius, as a fraction of the photograph's height
    well_offset: float  # largest shift of the well centre, as a fraction of the photograph's height
    rim_width: float  # width of the bright rim band, as a fraction of the well radius
    gradient_strength: float  # relative brightness change across one well radius
    reflection_strength: float  # relative brightness of the ring-shaped reflections inside the well
    noise_level: int  # largest sensor-noise offset, in 8-bit levels
    dust_count: int  # specks and fibres floating in the well
    specimen_light: float  # brightness multiplier of the specimen's colours


DEFAULT_CONDITION = ImagingCondition(
    background_rgb=(188, 187, 198),
    well_rgb=(180, 185, 197),
    rim_rgb=(236, 236, 244),
    well_radius=(0.53, 0.58),
    well_offset=0.035,
    rim_width=0.035,
    gradient_strength=0.08,
    reflection_strength=0.08,
    noise_level=4,
    dust_count=24,
    specimen_light=1.0,
)
SHIFTED_CONDITION = ImagingCondition(
    background_rgb=(206, 192, 160),
    well_rgb=(196, 186, 160),
    rim_rgb=(246, 238, 214),
    well_radius=(0.44, 0.50),
    well_offset=0.06,
    rim_width=0.05,
    gradient_strength=0.22,
    reflection_strength=0.03,
    noise_level=7,
    dust_count=60,
    specimen_light=0.85,
)


@dataclass(frozen=True)
class FamilyTraits:
    """Continuous traits of a family, each in [0, 1]; each order maps them to its own ranges."""

    size: float
    hue: float
    lightness: float
    wing_length: float
    wing_tint: float
    antenna: float
    legs: float
    elongation: float
    pattern: float
    posture: float


def family_traits(order: str, family: str) -> FamilyTraits:
    """The traits of a family of an order, from a SHA-256 hash of both names (stable across runs)."""
    digest = hashlib.sha256(f"{order}/{family}".encode()).digest()
    values = [int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65535 for i in range(len(fields(FamilyTraits)))]
    return FamilyTraits(*values)


def _jittered(traits: FamilyTraits, rng: np.random.Generator) -> FamilyTraits:
    """One specimen's traits: its family's plus a little Gaussian jitter, kept in [0, 1]."""
    values = np.array([getattr(traits, f.name) for f in fields(FamilyTraits)])
    return FamilyTraits(*np.clip(values + rng.normal(0.0, TRAIT_JITTER, values.size), 0.0, 1.0).tolist())


def _mix(low: float, high: float, unit: float) -> float:
    """The value a fraction `unit` of the way from `low` to `high`."""
    return low + (high - low) * unit


def _shade(rgb: RGB, factor: float) -> RGB:
    """A colour made lighter (factor > 1) or darker (factor < 1)."""
    return tuple(int(min(255, max(0, c * factor))) for c in rgb)


def _blend(a: RGB, b: RGB, weight: float) -> RGB:
    """The colour `weight` of the way from `a` to `b`."""
    return tuple(int(round(_mix(x, y, weight))) for x, y in zip(a, b))


def _ellipse_points(
    cx: float, cy: float, rx: float, ry: float, tilt: float, count: int, closed: bool = False
) -> np.ndarray:
    """Points around an ellipse turned by `tilt` radians; `closed` repeats the first point at the end."""
    t = np.linspace(0.0, 2.0 * math.pi, count + closed, endpoint=closed)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(tilt), math.sin(tilt)
    return np.column_stack([cx + c * x - s * y, cy + s * x + c * y])


class _Sketch:
    """Specimen parts in body units (length 1, head towards +x), recorded as pixel-space drawing commands."""

    def __init__(self, scale: float, angle: float):
        cos, sin = math.cos(angle), math.sin(angle)
        self.matrix = scale * np.array([[cos, -sin], [sin, cos]])
        self.scale = scale
        self.commands: list[tuple[str, np.ndarray, tuple[RGB, float], int]] = []

    def polygon(self, points: np.ndarray, rgb: RGB, alpha: float = 1.0) -> None:
        """A filled polygon through `points` (N x 2, body units)."""
        self.commands.append(("polygon", np.asarray(points) @ self.matrix.T, (rgb, min(1.0, alpha)), 0))

    def line(self, points: np.ndarray, width: float, rgb: RGB, alpha: float = 1.0) -> None:
        """A polyline of `width` body units (at least one pixel)."""
        pixels = max(1, int(round(width * self.scale)))
        self.commands.append(("line", np.asarray(points) @ self.matrix.T, (rgb, min(1.0, alpha)), pixels))

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, rgb: RGB, alpha: float = 1.0, tilt: float = 0.0
    ) -> None:
        """A filled ellipse centred at (cx, cy) with half-axes rx, ry, turned by `tilt` radians."""
        count = int(np.clip(max(rx, ry) * self.scale / 1.5, 10, 64))
        self.polygon(_ellipse_points(cx, cy, rx, ry, tilt, count), rgb, alpha)

    def glossy(self, cx: float, cy: float, rx: float, ry: float, rgb: RGB, tilt: float = 0.0) -> None:
        """An opaque body segment with a soft highlight."""
        self.ellipse(cx, cy, rx, ry, rgb, 1.0, tilt)
        self.ellipse(cx + 0.25 * rx, cy + 0.3 * ry, 0.45 * rx, 0.3 * ry, _shade(rgb, 1.5), 0.45, tilt)

    def wing(
        self,
        base: tuple[float, float],
        length: float,
        width: float,
        angle: float,
        rgb: RGB,
        alpha: float,
        veins: int = 3,
        vein_rgb: RGB = (70, 60, 50),
    ) -> None:
        """A wing: an ellipse from `base` pointing at `angle` radians, with veins fanning out from the base."""
        direction = np.array([math.cos(angle), math.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        start = np.array(base)
        centre = start + 0.5 * length * direction
        self.ellipse(centre[0], centre[1], 0.5 * length, 0.5 * width, rgb, alpha, angle)
        for k in range(veins):
            offset = (k + 0.5) / veins - 0.5
            end = start + 0.92 * length * direction + 0.8 * width * offset * normal
            mid = start + 0.5 * length * direction + 0.35 * width * offset * normal
            self.line(np.array([start, mid, end]), 0.006, vein_rgb, 0.45)
        outline = _ellipse_points(centre[0], centre[1], 0.5 * length, 0.5 * width, angle, 24, closed=True)
        self.line(outline, 0.004, vein_rgb, 0.5)

    def legs(
        self,
        rng: np.random.Generator,
        attach_x: tuple[float, float, float],
        attach_y: float,
        length: float,
        width: float,
        rgb: RGB,
        hind_width: float = 1.0,
    ) -> None:
        """Three pairs of jointed legs (femur, tibia, tarsus) in a random pose; `length` is a leg's reach."""
        rest_angles, rest_bends = (0.9, 1.65, 2.3), (-0.7, 0.5, 0.45)
        for index, x in enumerate(attach_x):
            for side in (1.0, -1.0):
                femur = rest_angles[index] + rng.normal(0.0, 0.22)
                bend = rest_bends[index] + rng.normal(0.0, 0.25)
                tarsus = bend + rng.normal(0.0, 0.3)
                points = [np.array([x, side * attach_y])]
                for angle, part in ((femur, 0.28), (femur + bend, 0.32), (femur + tarsus, 0.22)):
                    step = length * part * np.array([math.cos(angle), side * math.sin(angle)])
                    points.append(points[-1] + step)
                thickness = width * (hind_width if index == 2 else 1.0)
                self.line(np.array(points[:2]), thickness * 1.3, rgb)
                self.line(np.array(points[1:]), thickness, rgb)

    def antennae(
        self,
        rng: np.random.Generator,
        base_x: float,
        length: float,
        width: float,
        rgb: RGB,
        spread: float = 0.45,
        elbow: bool = False,
        beads: int = 0,
    ) -> None:
        """A pair of antennae, curved (or elbowed) in a random pose, optionally beaded."""
        for side in (1.0, -1.0):
            angle = spread + rng.normal(0.0, 0.12)
            bend = (-0.9 if elbow else -0.25) + rng.normal(0.0, 0.15)
            points = [np.array([base_x, side * 0.02])]
            for k, part in enumerate((0.35, 0.35, 0.3)):
                turn = angle + bend * (k if not elbow else min(k, 1))
                points.append(points[-1] + length * part * np.array([math.cos(turn), side * math.sin(turn)]))
            path = np.array(points)
            self.line(path, width, rgb)
            for k in range(beads):
                position = (k + 1) / (beads + 1) * (len(path) - 1)
                low = int(position)
                point = path[low] + (position - low) * (path[min(low + 1, len(path) - 1)] - path[low])
                self.ellipse(point[0], point[1], 1.3 * width, 1.3 * width, rgb)

    def tails(
        self,
        angles: tuple[float, ...],
        length: float,
        width: float,
        rgb: RGB,
        rng: np.random.Generator,
        start_x: float = -0.5,
    ) -> None:
        """Filaments (cerci) from the abdomen tip, pointing backwards at the given angles."""
        for angle in angles:
            turn = math.pi + angle + rng.normal(0.0, 0.08)
            curve = rng.normal(0.0, 0.15)
            points = [np.array([start_x, 0.0])]
            for part in (0.5, 0.5):
                points.append(points[-1] + length * part * np.array([math.cos(turn), math.sin(turn)]))
                turn += curve
            self.line(np.array(points), width, rgb)


@dataclass(frozen=True)
class _OrderPlan:
    """How an order looks: body length as a fraction of the photo width, colour ranges, and its drawing."""

    length: float
    hue: float
    hue_spread: float
    saturation: tuple[float, float]
    value: tuple[float, float]
    draw: Callable[[_Sketch, FamilyTraits, np.random.Generator, RGB], None]


def _body_colour(plan: _OrderPlan, traits: FamilyTraits) -> RGB:
    """The body colour of a specimen from its order's colour ranges and its traits."""
    hue = (plan.hue + (traits.hue - 0.5) * plan.hue_spread) % 1.0
    saturation = _mix(*plan.saturation, traits.pattern * 0.3 + traits.hue * 0.7)
    value = _mix(*plan.value, traits.lightness)
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))


def _wing_colour(traits: FamilyTraits) -> tuple[RGB, float]:
    """A translucent wing's tint and opacity."""
    return _blend((236, 238, 244), (125, 100, 62), 0.7 * traits.wing_tint), 0.22 + 0.35 * traits.wing_tint


def _eyes(sk: _Sketch, x: float, y: float, radius: float, rgb: RGB) -> None:
    """A pair of compound eyes."""
    for side in (1.0, -1.0):
        sk.ellipse(x, side * y, radius, radius * 0.85, rgb)


def _bands(sk: _Sketch, x0: float, x1: float, half_width: float, count: int, rgb: RGB, alpha: float) -> None:
    """Transverse stripes across an abdomen between x0 and x1."""
    for k in range(count):
        x = _mix(x0, x1, (k + 0.5) / count)
        taper = 1.0 - abs((x - (x0 + x1) / 2) / ((x1 - x0) / 2 + 1e-9)) ** 2 * 0.6
        sk.ellipse(x, 0.0, 0.18 * (x1 - x0) / count, half_width * taper, rgb, alpha)


def _draw_diptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    abdomen = _mix(0.24, 0.42, t.elongation)
    width = _mix(0.15, 0.09, t.elongation)
    sk.legs(rng, (0.2, 0.12, 0.04), 0.05, _mix(0.5, 1.3, t.legs), 0.018, _shade(body, 0.8))
    sk.glossy(0.02 - abdomen, 0.0, abdomen, width, body)
    _bands(sk, -2 * abdomen + 0.05, 0.0, width, 2 + int(4 * t.pattern), _shade(body, 0.55), 0.3 + 0.4 * t.pattern)
    sk.glossy(0.14, 0.0, 0.15, _mix(0.14, 0.1, t.elongation), _shade(body, 0.9))
    sk.ellipse(0.33, 0.0, 0.08, 0.11, _shade(body, 0.85))
    _eyes(sk, 0.34, 0.065, 0.055, _blend((120, 30, 20), body, 0.3 * t.lightness))
    sk.antennae(rng, 0.4, _mix(0.06, 0.5, t.antenna), 0.012, _shade(body, 0.7), 0.5, beads=int(6 * t.antenna) // 2)
    spread = _mix(0.25, 0.75, t.posture) + rng.normal(0.0, 0.08)
    length = _mix(0.55, 1.05, t.wing_length)
    for side in (1.0, -1.0):
        sk.wing(
            (0.16, side * 0.05),
            length,
            length * _mix(0.28, 0.42, t.pattern),
            math.pi - side * spread,
            wing_rgb,
            wing_alpha,
        )
        if t.pattern > 0.6:
            sk.ellipse(
                0.16 - 0.55 * length * math.cos(spread),
                side * 0.55 * length * math.sin(spread) + side * 0.05,
                0.05,
                0.04,
                _shade(body, 0.6),
                0.5,
            )
        sk.ellipse(0.04, side * 0.1, 0.018, 0.018, _shade(body, 1.3))  # halteres


def _draw_hymenoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.25, 0.17, 0.1), 0.04, _mix(0.6, 1.2, t.legs), 0.014, _shade(body, 1.2))
    gaster = _mix(0.16, 0.26, t.elongation)
    sk.line(np.array([[0.03, 0.0], [-0.1, 0.0]]), 0.03, body)  # petiole: the wasp waist
    sk.glossy(-0.1 - gaster, 0.0, gaster, _mix(0.12, 0.08, t.elongation), _shade(body, 0.75))
    _bands(sk, -0.1 - 2 * gaster, -0.1, 0.1, 3, _blend(body, (230, 200, 40), t.pattern), 0.6 * t.pattern)
    sk.glossy(0.16, 0.0, 0.14, 0.085, body)
    sk.ellipse(0.37, 0.0, 0.08, 0.1, _shade(body, 0.9))
    _eyes(sk, 0.38, 0.07, 0.04, _shade(body, 0.4))
    sk.antennae(rng, 0.44, _mix(0.3, 0.8, t.antenna), 0.014, _shade(body, 0.6), 0.5, elbow=True)
    spread = _mix(0.15, 0.55, t.posture) + rng.normal(0.0, 0.08)
    length = _mix(0.55, 0.9, t.wing_length)
    for side in (1.0, -1.0):
        hind_angle = math.pi - side * (spread + 0.25)
        sk.wing((0.18, side * 0.04), 0.7 * length, 0.18 * length, hind_angle, wing_rgb, wing_alpha, 2)
        sk.wing((0.22, side * 0.05), length, 0.3 * length, math.pi - side * spread, wing_rgb, wing_alpha)
        tip = np.array([0.22, side * 0.05]) + 0.45 * length * np.array([-math.cos(spread), side * math.sin(spread)])
        sk.ellipse(tip[0], tip[1], 0.04, 0.016, _shade(body, 0.5), 0.9, -side * spread)  # pterostigma


def _draw_coleoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.2, 0.05, -0.05), 0.1, _mix(0.45, 0.8, t.legs), 0.03, _shade(body, 0.7))
    length = _mix(0.28, 0.38, t.elongation)
    width = _mix(0.24, 0.16, t.elongation)
    sk.ellipse(0.05 - length, 0.0, length, width, body)  # elytra
    sk.line(np.array([[0.05, 0.0], [0.05 - 1.95 * length, 0.0]]), 0.01, _shade(body, 0.45))  # elytral suture
    for side in (1.0, -1.0):
        sk.ellipse(0.05 - length * 0.8, side * width * 0.45, length * 0.4, width * 0.12, _shade(body, 1.8), 0.35)
        if t.pattern > 0.55:
            sk.ellipse(0.05 - length * 1.1, side * width * 0.5, 0.05, 0.04, _blend(body, (230, 80, 30), 0.8))
    sk.glossy(0.16, 0.0, 0.12, width * 0.8, _shade(body, 0.9))
    sk.ellipse(0.32, 0.0, 0.07, 0.08, _shade(body, 0.8))
    sk.antennae(rng, 0.37, _mix(0.15, 0.6, t.antenna), 0.014, _shade(body, 0.6), 0.6, beads=int(t.posture * 8))


def _draw_hemiptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.22, 0.1, 0.0), 0.08, _mix(0.5, 1.0, t.legs), 0.02, _shade(body, 0.8))
    width = _mix(0.2, 0.13, t.elongation)
    for side in (1.0, -1.0):  # hemelytra: leathery base, membranous tips crossing
        tilt = side * 0.12
        sk.ellipse(-0.3, side * width * 0.25, 0.38, width * 0.55, wing_rgb, wing_alpha + 0.2, tilt)
        sk.polygon(np.array([[0.1, side * width], [-0.35, side * width * 0.6], [-0.4, 0.0], [0.1, 0.0]]), body)
    sk.polygon(
        np.array(
            [
                [0.24, 0.06],
                [0.12, width * 1.1],
                [0.05, width * 1.05],
                [0.05, -width * 1.05],
                [0.12, -width * 1.1],
                [0.24, -0.06],
            ]
        ),
        _shade(body, 0.95),
    )  # pronotum
    sk.polygon(np.array([[0.05, width * 0.6], [-0.18, 0.0], [0.05, -width * 0.6]]), _shade(body, 0.8 + 0.4 * t.pattern))
    sk.polygon(np.array([[0.24, 0.07], [0.36, 0.03], [0.38, 0.0], [0.36, -0.03], [0.24, -0.07]]), _shade(body, 0.9))
    _eyes(sk, 0.27, 0.075, 0.03, _shade(body, 0.4))
    sk.antennae(rng, 0.36, _mix(0.2, 0.6, t.antenna), 0.012, _shade(body, 0.7), 0.55)


def _draw_lepidoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.2, 0.12, 0.04), 0.03, _mix(0.4, 0.7, t.legs), 0.012, _shade(body, 0.8))
    band = _blend(body, (60, 40, 25), 0.5 + 0.3 * t.pattern)
    span = _mix(0.8, 1.2, t.wing_length)
    if t.posture > 0.5:  # wings spread
        for side in (1.0, -1.0):
            sweep = rng.normal(0.0, 0.06)
            hind = np.array([[0.0, 0.03], [-0.15 - sweep, 0.45 * span], [-0.4 - sweep, 0.32 * span], [-0.35, 0.04]])
            sk.polygon(hind * [1.0, side], _shade(body, 1.1))
            fore = np.array([[0.18, 0.03], [0.02 + sweep, 0.62 * span], [-0.16 + sweep, 0.52 * span], [-0.05, 0.04]])
            sk.polygon(fore * [1.0, side], body)
            sk.line(np.array([[0.1, side * 0.15 * span], [-0.08 + sweep, side * 0.5 * span]]), 0.04, band, 0.8)
    else:  # wings folded over the body in a narrow roof
        for side in (1.0, -1.0):
            roof = np.array([[0.28, 0.0], [0.1, 0.16], [-0.7 * span, 0.1], [-0.75 * span, 0.0]])
            sk.polygon(roof * [1.0, side], body)
            sk.line(np.array([[-0.72 * span, side * 0.09], [-0.76 * span, 0.0]]), 0.03, _shade(body, 1.2), 0.6)
        sk.line(np.array([[0.15, 0.0], [-0.6 * span, 0.0]]), 0.025, band, 0.7)
        sk.ellipse(-0.2, 0.0, 0.06, 0.08 + 0.04 * t.pattern, band, 0.7 * t.pattern + 0.2)
    sk.glossy(0.05, 0.0, 0.35, 0.06, _shade(body, 0.85))
    sk.ellipse(0.36, 0.0, 0.06, 0.07, _shade(body, 0.8))
    _eyes(sk, 0.37, 0.05, 0.03, (40, 30, 25))
    sk.antennae(rng, 0.4, _mix(0.35, 0.8, t.antenna), 0.01, _shade(body, 0.7), 0.35)


def _draw_psocodea(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.15, 0.08, 0.02), 0.05, _mix(0.5, 0.8, t.legs), 0.018, _shade(body, 0.9))
    length = _mix(0.6, 1.1, t.wing_length) * (t.posture > 0.25)  # some families wingless
    if length:
        for side in (1.0, -1.0):
            sk.wing(
                (0.1, side * 0.03),
                length,
                0.35 * length,
                math.pi - side * 0.2,
                wing_rgb,
                wing_alpha + 0.1,
                3,
                (60, 45, 30),
            )
            sk.ellipse(0.1 - 0.45 * length, side * 0.14 * length, 0.07, 0.02, (70, 50, 35), 0.8, -side * 0.2)
    sk.glossy(-0.2, 0.0, 0.3, 0.17, body)
    sk.ellipse(0.12, 0.0, 0.12, 0.13, _shade(body, 0.95))
    sk.glossy(0.32, 0.0, 0.14, 0.16, _shade(body, 1.05))  # large head, bulging clypeus
    _eyes(sk, 0.33, 0.13, 0.05, (25, 20, 20))
    sk.antennae(rng, 0.42, _mix(0.6, 1.2, t.antenna), 0.01, _shade(body, 0.8), 0.6)


def _draw_thysanoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.28, 0.2, 0.13), 0.03, _mix(0.25, 0.45, t.legs), 0.02, _shade(body, 1.1))
    fringe = _blend(body, (220, 220, 225), 0.5)
    for side in (1.0, -1.0):  # strap-like wings with long fringes
        sk.line(np.array([[0.2, side * 0.03], [-0.45, side * 0.04]]), 0.02, _shade(body, 0.9), 0.8)
        for k in range(12):
            x = 0.15 - 0.05 * k
            sk.line(np.array([[x, side * 0.04], [x - 0.03, side * 0.1]]), 0.006, fringe, 0.7)
    sk.glossy(-0.15, 0.0, 0.35, _mix(0.08, 0.055, t.elongation), body)
    sk.glossy(0.28, 0.0, 0.1, 0.06, _shade(body, 0.9))
    sk.ellipse(0.42, 0.0, 0.07, 0.05, _shade(body, 0.85))
    sk.antennae(rng, 0.48, _mix(0.12, 0.25, t.antenna), 0.015, _shade(body, 0.8), 0.3, beads=4)


def _draw_trichoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.25, 0.15, 0.05), 0.04, _mix(0.7, 1.2, t.legs), 0.015, _shade(body, 1.1))
    span = _mix(0.9, 1.2, t.wing_length)
    for side in (1.0, -1.0):  # hairy wings held roof-like over the body
        sk.polygon(
            np.array(
                [
                    [0.3, 0.0],
                    [0.15, side * 0.14],
                    [-0.5 * span, side * 0.15],
                    [-0.72 * span, side * 0.06],
                    [-0.72 * span, 0.0],
                ]
            ),
            body,
        )
        for k in range(3):
            vein = np.array([[0.15, side * 0.04 * k], [-0.65 * span, side * 0.05 * k]])
            sk.line(vein, 0.008, _shade(body, 0.75), 0.5)
    if t.pattern > 0.5:
        sk.ellipse(-0.2, 0.0, 0.05, 0.1, _shade(body, 1.4), 0.6)
    sk.ellipse(0.36, 0.0, 0.06, 0.07, _shade(body, 0.8))
    _eyes(sk, 0.37, 0.05, 0.03, (30, 25, 20))
    sk.antennae(rng, 0.42, _mix(1.0, 1.6, t.antenna), 0.01, _shade(body, 0.75), 0.2)


def _draw_orthoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.2, 0.1, 0.02), 0.07, 0.45, 0.025, _shade(body, 0.9))
    wing_length = 0.62 * _mix(0.8, 1.2, t.wing_length)
    sk.polygon(np.array([[0.05, 0.09], [-wing_length, 0.05], [-wing_length, -0.05], [0.05, -0.09]]), _shade(body, 0.95))
    sk.glossy(-0.2, 0.0, 0.3, 0.1, body)
    for side in (1.0, -1.0):  # large jumping hind legs folded along the body
        hip = np.array([-0.02, side * 0.1])
        knee = np.array([-0.5 + rng.normal(0.0, 0.04), side * (0.2 + abs(rng.normal(0.0, 0.04)))])
        middle = 0.5 * (hip + knee)
        sk.ellipse(middle[0], middle[1], 0.27, 0.06, _shade(body, 0.85), 1.0, math.atan2(*(knee - hip)[::-1]))
        foot = knee + np.array([0.38, side * (0.06 + abs(rng.normal(0.0, 0.06)))])
        sk.line(np.array([knee, foot]), 0.022, _shade(body, 0.75))
    sk.glossy(0.16, 0.0, 0.14, 0.12, _shade(body, 0.85 + 0.3 * t.pattern))  # saddle-shaped pronotum
    sk.ellipse(0.36, 0.0, 0.1, 0.1, body)
    _eyes(sk, 0.38, 0.08, 0.035, _shade(body, 0.5))
    long_antennae = t.posture > 0.5  # crickets and katydids versus grasshoppers
    sk.antennae(rng, 0.45, _mix(0.2, 0.35, t.antenna) * (4.0 if long_antennae else 1.0), 0.012, _shade(body, 0.7), 0.35)


def _draw_blattodea(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.15, 0.05, -0.05), 0.12, _mix(0.5, 0.8, t.legs), 0.025, _shade(body, 0.8))
    sk.tails((0.4, -0.4), 0.1, 0.02, _shade(body, 0.8), rng, -0.42)
    width = _mix(0.24, 0.18, t.elongation)
    sk.ellipse(-0.08, 0.0, 0.42, width, _shade(body, 0.9))  # flat oval body
    for side in (1.0, -1.0):
        wing_length = 0.36 * _mix(0.7, 1.05, t.wing_length)
        sk.ellipse(-0.12, side * width * 0.45, wing_length, width * 0.55, body, 1.0, side * 0.05)
    sk.glossy(0.22, 0.0, 0.14, width * 0.95, _blend(body, (200, 170, 110), 0.5 * t.pattern))  # pronotum shield
    sk.ellipse(0.22, 0.0, 0.06, width * 0.4, _shade(body, 0.6), 0.5 * t.pattern)
    sk.antennae(rng, 0.34, _mix(0.8, 1.3, t.antenna), 0.01, _shade(body, 0.7), 0.4)


def _draw_neuroptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    vein_rgb = _blend(body, (40, 60, 30), 0.4)
    sk.legs(rng, (0.22, 0.14, 0.06), 0.04, _mix(0.5, 0.8, t.legs), 0.014, _shade(body, 0.9))
    length = _mix(0.9, 1.3, t.wing_length)
    spread = _mix(0.15, 0.7, t.posture) + rng.normal(0.0, 0.06)
    for side in (1.0, -1.0):  # four lace wings with a dense net of veins
        for base, factor, extra in ((0.18, 1.0, 0.0), (0.1, 0.9, 0.25)):
            angle = math.pi - side * (spread + extra)
            sk.wing((base, side * 0.04), length * factor, 0.34 * length, angle, wing_rgb, wing_alpha * 0.8, 6, vein_rgb)
            direction = np.array([math.cos(angle), math.sin(angle)])
            normal = np.array([-direction[1], direction[0]])
            for k in range(1, 7):
                mid = np.array([base, side * 0.04]) + direction * length * factor * k / 7.5
                sk.line(np.array([mid - normal * 0.13 * length, mid + normal * 0.13 * length]), 0.004, vein_rgb, 0.4)
    sk.glossy(-0.15, 0.0, 0.33, 0.06, body)
    sk.glossy(0.2, 0.0, 0.11, 0.07, body)
    sk.ellipse(0.36, 0.0, 0.06, 0.07, body)
    _eyes(sk, 0.37, 0.065, 0.035, (190, 150, 40))
    sk.antennae(rng, 0.41, _mix(0.5, 1.0, t.antenna), 0.01, _shade(body, 0.8), 0.3)


def _draw_ephemeroptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.25, 0.15, 0.07), 0.04, _mix(0.5, 0.8, t.legs), 0.014, _shade(body, 0.9))
    tails = (0.12, 0.0, -0.12) if t.posture > 0.4 else (0.1, -0.1)
    sk.tails(tails, _mix(0.9, 1.6, t.antenna), 0.01, _shade(body, 0.8), rng, -0.5)
    side = 1.0 if rng.random() < 0.5 else -1.0
    height = _mix(0.55, 0.8, t.wing_length)  # triangular wings held upright, seen from the side
    sk.polygon(
        np.array([[0.25, 0.0], [0.05, side * height], [-0.1, side * height * 0.9], [-0.05, 0.0]]),
        wing_rgb,
        wing_alpha + 0.1,
    )
    sk.line(np.array([[0.25, 0.0], [0.05, side * height], [-0.1, side * height * 0.9]]), 0.008, (70, 60, 50), 0.6)
    for k in range(4):
        sk.line(np.array([[0.15 - 0.05 * k, 0.0], [0.05 - 0.04 * k, side * height * 0.9]]), 0.004, (70, 60, 50), 0.4)
    sk.glossy(-0.2, 0.0, 0.32, 0.05, body)
    _bands(sk, -0.5, 0.1, 0.05, 6, _shade(body, 0.6), 0.4)
    sk.glossy(0.2, 0.0, 0.13, 0.07, body)
    sk.ellipse(0.38, 0.0, 0.06, 0.07, _shade(body, 0.9))
    _eyes(sk, 0.4, 0.06, 0.04, (40, 35, 30))


def _draw_dermaptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.legs(rng, (0.25, 0.12, 0.02), 0.06, _mix(0.4, 0.6, t.legs), 0.022, _shade(body, 1.3))
    length = _mix(0.12, 0.24, t.wing_length)
    for side in (1.0, -1.0):  # forceps
        curve = _mix(0.2, 0.6, t.pattern)
        prong = np.array([[-0.48, 0.03], [-0.62, 0.06], [-0.72, 0.06 - 0.08 * curve]])
        sk.line(prong * [1.0, side], 0.035, _shade(body, 0.8))
    sk.glossy(-0.2, 0.0, 0.3, _mix(0.1, 0.07, t.elongation), body)
    _bands(sk, -0.5, 0.0, 0.09, 7, _shade(body, 0.7), 0.5)
    tegmina = _blend(body, (180, 140, 80), 0.4 * t.pattern)
    sk.glossy(0.1 - length / 2, 0.0, length / 2 + 0.05, 0.1, tegmina)  # short forewings
    sk.glossy(0.24, 0.0, 0.07, 0.09, _shade(body, 1.1))
    sk.ellipse(0.37, 0.0, 0.07, 0.08, body)
    sk.antennae(rng, 0.43, _mix(0.3, 0.5, t.antenna), 0.012, _shade(body, 1.2), 0.5, beads=5)


def _draw_archaeognatha(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.tails((0.0,), _mix(0.7, 1.0, t.antenna), 0.016, _shade(body, 0.85), rng, -0.48)  # median filament
    sk.tails((0.45, -0.45), _mix(0.25, 0.4, t.antenna), 0.012, _shade(body, 0.85), rng, -0.48)
    sk.legs(rng, (0.25, 0.15, 0.05), 0.05, _mix(0.35, 0.5, t.legs), 0.015, _shade(body, 1.2))
    for k in range(10):  # humped, tapering, scaled body
        x = 0.35 - 0.085 * k
        half = 0.13 * math.sin(math.pi * (k + 1.5) / 12) + 0.01
        sk.ellipse(x, 0.0, 0.05, half, _shade(body, 1.0 + 0.25 * ((k % 2) - 0.5) * t.pattern))
    sk.ellipse(0.28, 0.0, 0.1, 0.13, _shade(body, 1.15), 0.5)
    sk.ellipse(0.42, 0.0, 0.05, 0.07, body)
    _eyes(sk, 0.42, 0.04, 0.035, (45, 40, 35))
    for side in (1.0, -1.0):  # long maxillary palps
        sk.line(np.array([[0.44, side * 0.03], [0.55, side * 0.1], [0.62, side * 0.08]]), 0.015, _shade(body, 1.1))
    sk.antennae(rng, 0.46, _mix(0.5, 1.0, t.antenna), 0.01, _shade(body, 0.9), 0.25)


def _draw_plecoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.tails((0.25, -0.25), _mix(0.15, 0.4, t.antenna), 0.014, _shade(body, 0.8), rng, -0.48)
    sk.legs(rng, (0.25, 0.15, 0.05), 0.06, _mix(0.5, 0.8, t.legs), 0.018, _shade(body, 0.9))
    sk.glossy(-0.15, 0.0, 0.35, _mix(0.09, 0.06, t.elongation), body)
    length = _mix(0.8, 1.1, t.wing_length)
    for side in (1.0, -1.0):  # wings folded flat, overlapping along the back
        sk.wing(
            (0.15, side * 0.02), length, 0.2, math.pi - side * 0.06, wing_rgb, wing_alpha + 0.2, 4, _shade(body, 0.6)
        )
    sk.glossy(0.2, 0.0, 0.1, 0.09, _shade(body, 0.95))
    sk.ellipse(0.37, 0.0, 0.08, 0.09, body)
    _eyes(sk, 0.38, 0.075, 0.03, (30, 25, 20))
    sk.antennae(rng, 0.44, _mix(0.5, 0.9, t.antenna), 0.011, _shade(body, 0.7), 0.35)


def _draw_embioptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.tails((0.3, -0.3), 0.08, 0.02, body, rng, -0.48)
    sk.legs(rng, (0.3, 0.12, 0.0), 0.04, _mix(0.3, 0.45, t.legs), 0.02, _shade(body, 1.1), hind_width=1.6)
    for side in (1.0, -1.0):  # swollen silk-spinning front tarsi
        sk.ellipse(0.42 + rng.normal(0.0, 0.02), side * 0.12, 0.05, 0.03, _shade(body, 1.15), 1.0, side * 0.6)
    if t.posture > 0.5:  # winged males: dark smoky wings
        for side in (1.0, -1.0):
            sk.wing((0.2, side * 0.03), 0.65, 0.16, math.pi - side * 0.12, (70, 50, 40), 0.6, 3, (40, 30, 25))
    for k in range(9):  # elongate, parallel-sided body
        sk.ellipse(0.3 - 0.09 * k, 0.0, 0.055, _mix(0.075, 0.055, t.elongation), _shade(body, 1.0 - 0.03 * (k % 2)))
    sk.glossy(0.38, 0.0, 0.07, 0.07, _shade(body, 0.8))
    sk.antennae(rng, 0.44, _mix(0.2, 0.35, t.antenna), 0.012, _shade(body, 1.1), 0.4, beads=6)


def _draw_strepsiptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.15, 0.08, 0.0), 0.04, 0.4, 0.015, _shade(body, 1.2))
    length = _mix(0.8, 1.1, t.wing_length)
    for side in (1.0, -1.0):  # broad fan-shaped hind wings with radial veins
        centre = math.pi * 0.5 * side + rng.normal(0.0, 0.1) - side * 0.2
        fan = np.linspace(centre - 0.6, centre + 0.6, 9)
        outline = np.vstack(
            [
                [0.0, 0.0],
                np.column_stack([-length * np.sin(fan - math.pi / 2) * side * 0.3 - 0.1, length * np.sin(fan) * 0.8]),
            ]
        )
        sk.polygon(outline, wing_rgb, wing_alpha + 0.1)
        for point in outline[1::2]:
            sk.line(np.array([[0.0, 0.0], point]), 0.008, (60, 50, 45), 0.55)
        sk.line(np.array([[0.22, side * 0.04], [0.18, side * 0.2]]), 0.03, _shade(body, 0.9))  # club-like forewings
    sk.glossy(-0.15, 0.0, 0.3, 0.09, body)
    sk.glossy(0.15, 0.0, 0.16, 0.1, _shade(body, 0.9))
    sk.ellipse(0.36, 0.0, 0.07, 0.1, body)
    _eyes(sk, 0.36, 0.09, 0.05, (60, 25, 25))
    sk.antennae(rng, 0.42, 0.3, 0.02, _shade(body, 0.8), 0.7)
    sk.antennae(rng, 0.42, 0.25, 0.02, _shade(body, 0.8), 0.2)  # branched antennae


def _draw_zoraptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    sk.tails((0.3, -0.3), 0.07, 0.015, body, rng, -0.45)
    sk.legs(rng, (0.25, 0.12, 0.0), 0.05, _mix(0.4, 0.6, t.legs), 0.022, body, hind_width=1.5)
    sk.ellipse(-0.15, 0.0, 0.3, _mix(0.15, 0.11, t.elongation), body)
    _bands(sk, -0.45, 0.15, 0.12, 6, _shade(body, 0.9), 0.4)
    sk.ellipse(0.2, 0.0, 0.1, 0.11, _shade(body, 0.97))
    sk.ellipse(0.36, 0.0, 0.09, 0.1, _shade(body, 1.03))
    sk.antennae(rng, 0.43, _mix(0.35, 0.55, t.antenna), 0.014, body, 0.5, beads=9)


def _draw_mecoptera(sk: _Sketch, t: FamilyTraits, rng: np.random.Generator, body: RGB) -> None:
    wing_rgb, wing_alpha = _wing_colour(t)
    sk.legs(rng, (0.22, 0.14, 0.06), 0.04, _mix(0.6, 0.9, t.legs), 0.012, _shade(body, 0.9))
    length = _mix(0.75, 1.0, t.wing_length)
    spread = _mix(0.3, 0.6, t.posture) + rng.normal(0.0, 0.05)
    for side in (1.0, -1.0):  # four narrow spotted wings held apart
        for base, extra in ((0.18, 0.0), (0.1, 0.3)):
            angle = math.pi - side * (spread + extra)
            sk.wing((base, side * 0.03), length, 0.2 * length, angle, wing_rgb, wing_alpha + 0.1, 4, _shade(body, 0.6))
            direction = np.array([math.cos(angle), math.sin(angle)])
            for k in (0.45, 0.75):
                spot = np.array([base, side * 0.03]) + direction * length * k
                sk.ellipse(spot[0], spot[1], 0.035, 0.035, _shade(body, 0.5), 0.7)
    curl = _mix(0.08, 0.16, t.pattern) * (1.0 if rng.random() < 0.5 else -1.0)  # upturned scorpion-like tail
    sk.line(np.array([[-0.3, 0.0], [-0.5, 0.02], [-0.58, curl], [-0.52, 1.6 * curl]]), 0.05, _shade(body, 1.1))
    sk.glossy(-0.12, 0.0, 0.26, 0.06, body)
    sk.glossy(0.18, 0.0, 0.1, 0.07, body)
    sk.ellipse(0.32, 0.0, 0.06, 0.06, body)
    sk.line(np.array([[0.34, 0.0], [0.5, 0.0]]), 0.03, _shade(body, 0.9))  # elongated beak
    _eyes(sk, 0.32, 0.05, 0.03, (40, 30, 25))
    sk.antennae(rng, 0.36, _mix(0.5, 0.8, t.antenna), 0.01, _shade(body, 0.8), 0.35)


ORDER_PLANS: dict[str, _OrderPlan] = {
    "Diptera": _OrderPlan(0.13, 0.08, 0.14, (0.3, 0.75), (0.12, 0.62), _draw_diptera),
    "Hymenoptera": _OrderPlan(0.14, 0.05, 0.12, (0.45, 0.85), (0.12, 0.6), _draw_hymenoptera),
    "Coleoptera": _OrderPlan(0.12, 0.12, 0.25, (0.4, 0.8), (0.1, 0.5), _draw_coleoptera),
    "Hemiptera": _OrderPlan(0.12, 0.12, 0.35, (0.35, 0.75), (0.3, 0.7), _draw_hemiptera),
    "Lepidoptera": _OrderPlan(0.15, 0.09, 0.1, (0.2, 0.5), (0.4, 0.8), _draw_lepidoptera),
    "Psocodea": _OrderPlan(0.08, 0.1, 0.1, (0.1, 0.35), (0.6, 0.85), _draw_psocodea),
    "Thysanoptera": _OrderPlan(0.07, 0.07, 0.08, (0.4, 0.8), (0.2, 0.6), _draw_thysanoptera),
    "Trichoptera": _OrderPlan(0.13, 0.08, 0.06, (0.35, 0.65), (0.3, 0.6), _draw_trichoptera),
    "Orthoptera": _OrderPlan(0.17, 0.17, 0.16, (0.4, 0.7), (0.35, 0.6), _draw_orthoptera),
    "Blattodea": _OrderPlan(0.14, 0.06, 0.06, (0.5, 0.8), (0.3, 0.55), _draw_blattodea),
    "Neuroptera": _OrderPlan(0.12, 0.24, 0.12, (0.3, 0.6), (0.55, 0.8), _draw_neuroptera),
    "Ephemeroptera": _OrderPlan(0.11, 0.1, 0.06, (0.35, 0.6), (0.45, 0.7), _draw_ephemeroptera),
    "Dermaptera": _OrderPlan(0.14, 0.04, 0.05, (0.55, 0.8), (0.2, 0.4), _draw_dermaptera),
    "Archaeognatha": _OrderPlan(0.12, 0.08, 0.06, (0.1, 0.3), (0.45, 0.7), _draw_archaeognatha),
    "Plecoptera": _OrderPlan(0.14, 0.08, 0.06, (0.25, 0.5), (0.3, 0.5), _draw_plecoptera),
    "Embioptera": _OrderPlan(0.14, 0.06, 0.05, (0.45, 0.7), (0.25, 0.45), _draw_embioptera),
    "Strepsiptera": _OrderPlan(0.07, 0.05, 0.05, (0.3, 0.6), (0.15, 0.3), _draw_strepsiptera),
    "Zoraptera": _OrderPlan(0.06, 0.12, 0.04, (0.15, 0.3), (0.8, 0.92), _draw_zoraptera),
    "Mecoptera": _OrderPlan(0.14, 0.07, 0.08, (0.45, 0.75), (0.3, 0.6), _draw_mecoptera),
}


@dataclass(frozen=True)
class _Well:
    """Where the well lies in one photograph, and its lighting gradient."""

    centre: tuple[float, float]
    radius: float
    gradient: tuple[float, float]  # brightness change per well radius along x and y

    noise_shift: tuple[int, int]  # where the fixed sensor-noise field starts in this photograph

    def light(self, x: float, y: float) -> float:
        """The relative brightness of the lighting at pixel (x, y)."""
        gx, gy = self.gradient
        return 1.0 + (gx * (x - self.centre[0]) + gy * (y - self.centre[1])) / self.radius


def _light_field(
    well: _Well, size: tuple[int, int], condition: ImagingCondition, rng: np.random.Generator
) -> Image.Image:
    """The smooth part of an empty-well photograph: colours, wall shading, reflections and lighting."""
    width, height = size
    columns, rows = -(-width // LIGHT_FIELD_STEP) + 1, -(-height // LIGHT_FIELD_STEP) + 1
    x = np.linspace(0.0, width, columns)[None, :]
    y = np.linspace(0.0, height, rows)[:, None]
    dx, dy = x - well.centre[0], y - well.centre[1]
    r = np.sqrt(dx * dx + dy * dy) / well.radius
    theta = np.arctan2(dy, dx)
    phase = rng.uniform(0.0, 2.0 * math.pi, 3)
    rim = condition.rim_width
    inside = np.clip((1.0 - r) / 0.01, 0.0, 1.0)[..., None]
    band = 0.75 * np.exp(-(((r - 1.0 - rim / 2) / (rim / 2)) ** 2))[..., None]
    lobes = np.cos(5 * theta + phase[0]) + 0.6 * np.cos(9 * theta + phase[1])
    reflections = condition.reflection_strength * (
        0.7 * np.exp(-(((r - 0.47) / 0.05) ** 2)) * np.clip(lobes + 0.6, 0.0, 1.6)
        + 0.3 * np.exp(-((r / 0.5) ** 2))
        + 0.5 * np.exp(-(((r - 0.18) / 0.05) ** 2)) * np.clip(np.cos(3 * theta + phase[2]) + 0.3, 0.0, 1.0)
        + 0.7 * np.exp(-(((r - 1.3) / 0.12) ** 2)) * np.clip(lobes + 0.5, 0.0, 1.0)
        + 0.4 * (r > 1.0) * np.exp(-((r - 1.0 - rim) / 0.06))
    )
    shading = 1.0 - 0.06 * np.clip(r, 0.0, 1.0) ** 6 + reflections + well.light(x, y) - 1.0
    well_rgb = np.array(condition.well_rgb, float)
    base = inside * well_rgb + (1.0 - inside) * np.array(condition.background_rgb, float)
    colour = base * shading[..., None]
    colour = colour * (1.0 - band) + np.array(condition.rim_rgb, float) * band
    small = Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8), "RGB")
    return small.resize(size, Image.BILINEAR, box=(0.5, 0.5, columns - 0.5, rows - 0.5))


def _draw_rim_and_dust(photo: Image.Image, well: _Well, condition: ImagingCondition, rng: np.random.Generator) -> None:
    """The sharp rim lines with glints, then specks and fibres in the well."""
    draw = ImageDraw.Draw(photo, "RGBA")
    unit = photo.width / REFERENCE_WIDTH
    cx, cy = well.centre
    for factor, rgb, alpha, line_width in (
        (1.0, (255, 255, 255), 170, 1.5),
        (0.99, (110, 110, 120), 90, 1.0),
        (1.0 + condition.rim_width, (255, 255, 255), 110, 1.0),
    ):
        radius = well.radius * factor
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            outline=(*rgb, alpha),
            width=max(1, round(line_width * unit)),
        )
    _draw_glints(draw, well, condition, rng, unit)
    _draw_dust(draw, well, condition, rng, unit)


def _draw_glints(
    draw: ImageDraw.ImageDraw, well: _Well, condition: ImagingCondition, rng: np.random.Generator, unit: float
) -> None:
    """Short bright (and a few dark) reflections along the rim."""
    count = RIM_GLINTS
    radii = well.radius * (1.0 + rng.uniform(-0.01, 1.5 * condition.rim_width, count))
    starts = rng.uniform(0.0, 2.0 * math.pi, count)
    angles = starts[:, None] + rng.uniform(0.02, 0.15, count)[:, None] * np.linspace(0.0, 1.0, 6)
    xs = (well.centre[0] + radii[:, None] * np.cos(angles)).tolist()
    ys = (well.centre[1] + radii[:, None] * np.sin(angles)).tolist()
    bright = rng.random(count) < 0.6
    tints = np.where(bright[:, None], rng.integers(225, 256, (count, 3)), (120, 118, 130))
    inks = np.column_stack([tints, rng.integers(90, 230, count)]).tolist()
    widths = np.maximum(1, np.round(rng.uniform(1.0, 3.0, count) * unit)).astype(int).tolist()
    for x, y, ink, width in zip(xs, ys, inks, widths):
        draw.line(list(zip(x, y)), fill=tuple(ink), width=width)


def _draw_dust(
    draw: ImageDraw.ImageDraw, well: _Well, condition: ImagingCondition, rng: np.random.Generator, unit: float
) -> None:
    """Grey specks and short curly fibres floating in the well."""
    count = condition.dust_count
    distances = well.radius * 0.95 * np.sqrt(rng.random(count))
    angles = rng.uniform(0.0, 2.0 * math.pi, count)
    xs = well.centre[0] + distances * np.cos(angles)
    ys = well.centre[1] + distances * np.sin(angles)
    greys = rng.integers(60, 150, count)
    inks = np.column_stack([greys, greys, greys + 5, rng.integers(90, 200, count)]).tolist()
    specks = rng.random(count) < 0.7
    sizes = rng.uniform(0.4, 1.6, count) * unit
    fibres = rng.normal(0.0, 5.0 * unit, (count, 4, 2)).cumsum(axis=1) + np.stack([xs, ys], axis=1)[:, None, :]
    fibre_width = max(1, round(0.5 * unit))
    for x, y, ink, speck, size, fibre in zip(
        xs.tolist(), ys.tolist(), inks, specks.tolist(), sizes.tolist(), fibres.tolist()
    ):
        if speck:
            draw.ellipse((x - size, y - size, x + size, y + size), fill=tuple(ink))
        else:
            draw.line([tuple(point) for point in fibre], fill=tuple(ink), width=fibre_width)


@functools.lru_cache(maxsize=4)
def _noise_tile(size: tuple[int, int], level: int) -> Image.Image:
    """A fixed field of grey noise, `level` plus an offset of at most `level`, for photographs of `size`."""
    width, height = size
    noise = np.random.default_rng(NOISE_TILE_SEED).integers(0, 2 * level + 1, (height, width, 1), dtype=np.uint8)
    return Image.fromarray(np.repeat(noise, 3, axis=2), "RGB")


def _add_noise(photo: Image.Image, level: int, shift: tuple[int, int]) -> Image.Image:
    """The photograph with grey sensor noise of at most `level` levels: the fixed noise field, shifted."""
    if level <= 0:
        return photo
    return ImageChops.add(photo, ImageChops.offset(_noise_tile(photo.size, level), *shift), 1.0, -level)


def _well_geometry(size: tuple[int, int], condition: ImagingCondition, rng: np.random.Generator) -> _Well:
    """A random well position, radius and lighting direction for one photograph."""
    width, height = size
    offset = condition.well_offset * height
    centre = (width / 2 + rng.uniform(-offset, offset), height / 2 + rng.uniform(-offset, offset))
    direction = rng.uniform(0.0, 2.0 * math.pi)
    strength = condition.gradient_strength * rng.uniform(0.5, 1.0)
    return _Well(
        centre,
        height * rng.uniform(*condition.well_radius),
        (strength * math.cos(direction), strength * math.sin(direction)),
        (int(rng.integers(width)), int(rng.integers(height))),
    )


def _noiseless_well(
    rng: np.random.Generator, size: tuple[int, int], condition: ImagingCondition
) -> tuple[Image.Image, _Well]:
    """An empty well before sensor noise, and its geometry."""
    well = _well_geometry(size, condition, rng)
    photo = _light_field(well, size, condition, rng)
    _draw_rim_and_dust(photo, well, condition, rng)
    return photo, well


def draw_empty_well(
    rng: np.random.Generator, size: tuple[int, int] = (720, 540), condition: ImagingCondition = DEFAULT_CONDITION
) -> Image.Image:
    """The photograph `draw_photo` would take from the same generator state, without its specimen."""
    photo, well = _noiseless_well(rng, size, condition)
    return _add_noise(photo, condition.noise_level, well.noise_shift)


def _sketch_specimen(order: str, family: str, rng: np.random.Generator, width: int) -> _Sketch:
    """The specimen's drawing commands around its own centre, turned and scaled at random."""
    plan = ORDER_PLANS[order]
    traits = _jittered(family_traits(order, family), rng)
    length = plan.length * 2.0 ** (traits.size - 0.5) * rng.lognormal(0.0, 0.08) * width
    colour = _shade(_body_colour(plan, traits), rng.normal(1.0, 0.05))
    sketch = _Sketch(length, rng.uniform(0.0, 2.0 * math.pi))
    plan.draw(sketch, traits, rng, colour)
    return sketch


def _render(sketch: _Sketch, photo: Image.Image, offset: np.ndarray, shrink: float, light: float) -> None:
    """Draw the sketch's commands onto the photograph, scaled by `shrink` about the specimen centre and lit."""
    draw = ImageDraw.Draw(photo, "RGBA")
    for kind, points, (rgb, alpha), line_width in sketch.commands:
        ink = (*_shade(rgb, light), int(round(255 * alpha)))
        xy = [tuple(p) for p in (points * shrink + offset).tolist()]
        if kind == "polygon":
            draw.polygon(xy, fill=ink)
        else:
            draw.line(xy, fill=ink, width=max(1, round(line_width * shrink)), joint="curve")


def _placement(sketch: _Sketch, well: _Well, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A random centre for the specimen, and the shrink factor (at most 1) that keeps it inside the well."""
    points = np.vstack([points for _, points, _, _ in sketch.commands])
    reach = float(np.max(np.linalg.norm(points, axis=1))) + 2.0
    room = 0.75 * well.radius
    shrink = min(1.0, room / reach)
    distance = (room - reach * shrink) * math.sqrt(rng.random())
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return np.array(well.centre) + distance * np.array([math.cos(angle), math.sin(angle)]), shrink


def _specimen_region(sketch: _Sketch, centre: np.ndarray, shrink: float, size: tuple[int, int]) -> Box:
    """A box, inside the photograph, that holds every pixel the placed specimen can touch."""
    points = np.vstack([points for _, points, _, _ in sketch.commands]) * shrink + centre
    margin = max(line_width for _, _, _, line_width in sketch.commands) + 2
    left, top = np.floor(points.min(axis=0) - margin).astype(int).clip(0, size).tolist()
    right, bottom = np.ceil(points.max(axis=0) + margin).astype(int).clip(0, size).tolist()
    return left, top, right, bottom


def draw_photo(
    order: str,
    family: str,
    rng: np.random.Generator,
    size: tuple[int, int] = (720, 540),
    condition: ImagingCondition = DEFAULT_CONDITION,
) -> tuple[Image.Image, Box]:
    """A photograph of one specimen in a well, and its true box (left, top, right, bottom; right/bottom exclusive).

    The box is the bounding box of every pixel the specimen changed, legs, wings and antennae included.
    """
    if order not in ORDER_PLANS:
        raise ValueError(f"unknown insect order {order!r}; drawn orders: {', '.join(ORDERS_DRAWN)}")
    photo, well = _noiseless_well(rng, size, condition)
    sketch = _sketch_specimen(order, family, rng, size[0])
    centre, shrink = _placement(sketch, well, rng)
    region = _specimen_region(sketch, centre, shrink, size)
    empty = photo.crop(region)
    _render(sketch, photo, centre, shrink, condition.specimen_light * well.light(*centre))
    changed = ImageChops.difference(photo.crop(region), empty).getbbox()
    if changed is None:
        raise RuntimeError(f"the {order} specimen left no mark on the photograph")
    box = (changed[0] + region[0], changed[1] + region[1], changed[2] + region[0], changed[3] + region[1])
    return _add_noise(photo, condition.noise_level, well.noise_shift), box
