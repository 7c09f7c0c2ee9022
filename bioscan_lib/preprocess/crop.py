"""The crop tool: find the specimen in a CBG photograph (built-in detector or the published DETR) and cut it as published."""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bioscan_lib.core.checkpoint_files import load_checkpoint_file
from bioscan_lib.data import images
from bioscan_lib.data.bioscan1m import RESIZED_SIDE, published

cv2.setNumThreads(1)  # one image per process at a time: OpenCV's own threads would only compete with the pool
PAD_VALUE = tuple(published()["crop_tool"]["pad_rgb"])
CROP_RATIO = float(published()["crop_tool"]["crop_ratio"])
DETECTION_SIZE = 540  # shorter side (px) at which the built-in detector looks at a photograph
WORKING_SIZE = (
    1080  # shorter side (px) of the one reduced decode a crop is found on, and cut from when it is sharp enough
)
DETECTORS = ("builtin", "detr")


class Box(NamedTuple):
    """A box in pixel coordinates: left, top, right, bottom (right and bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Box:
        """The same box with every coordinate multiplied by `factor`."""
        return Box(*(value * factor for value in self))


def box_iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, min(first.right, second.right) - max(first.left, second.left))
    height = max(0.0, min(first.bottom, second.bottom) - max(first.top, second.top))
    overlap = width * height
    return overlap / (first.width * first.height + second.width * second.height - overlap)


def box_contains(outer: Box, inner: Box) -> bool:
    """Whether `inner` lies wholly inside `outer`."""
    return (
        outer.left <= inner.left
        and outer.top <= inner.top
        and outer.right >= inner.right
        and outer.bottom >= inner.bottom
    )


def enlarge_box(box: Box, crop_ratio: float = CROP_RATIO, equal_extend: bool = True) -> Box:
    """The published enlargement, rounded outwards: with `equal_extend` both sides grow by (crop_ratio - 1) x the
    longer side, else each by (crop_ratio - 1) x its own length; half at each end."""
    grow_x = (crop_ratio - 1) * (max(box.width, box.height) if equal_extend else box.width)
    grow_y = (crop_ratio - 1) * (max(box.width, box.height) if equal_extend else box.height)
    return Box(
        math.floor(box.left - grow_x / 2),
        math.floor(box.top - grow_y / 2),
        math.ceil(box.right + grow_x / 2),
        math.ceil(box.bottom + grow_y / 2),
    )


def cut_padded_array(rgb: np.ndarray, box: Box, pad_value: tuple[int, int, int] = PAD_VALUE) -> np.ndarray:
    """`cut_padded` on an RGB array: the region `box` (whole pixels), `pad_value` where it leaves the array."""
    left, top, right, bottom = (int(round(value)) for value in box)
    rows, cols = rgb.shape[:2]
    inside = rgb[max(0, top) : max(0, min(rows, bottom)), max(0, left) : max(0, min(cols, right))]
    if inside.size == 0:
        return np.full((bottom - top, right - left, 3), pad_value, np.uint8)
    margins = (max(0, -top), max(0, bottom - rows), max(0, -left), max(0, right - cols))
    return cv2.copyMakeBorder(inside, *margins, cv2.BORDER_CONSTANT, value=pad_value) if any(margins) else inside


def cut_padded(image: Image.Image, box: Box, pad_value: tuple[int, int, int] = PAD_VALUE) -> Image.Image:
    """The region `box` (whole pixels) of an RGB image, filled with `pad_value` where it leaves the image."""
    return Image.fromarray(cut_padded_array(np.asarray(image), box, pad_value))


def _odd(value: float) -> int:
    return max(3, int(value) // 2 * 2 + 1)


@functools.lru_cache(maxsize=8)
def _well_mask(rows: int, cols: int, well_radius: float) -> np.ndarray:
    """The disk of `well_radius` x the shorter side around the centre of a rows x cols image."""
    mask = np.zeros((rows, cols), np.uint8)
    cv2.circle(mask, (cols // 2, rows // 2), round(well_radius * min(rows, cols)), 1, thickness=-1)
    return mask.astype(bool)


def _joined(pixels: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected components of `pixels | seeds` that hold a seed."""
    count, labels = cv2.connectedComponents((pixels | seeds).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[labels[seeds]] = True
    keep[0] = False
    return np.take(keep, labels)


def _contrast(small: np.ndarray, background_size: int) -> np.ndarray:
    """How much darker or more coloured (CIELAB) each pixel is than the median-smoothed floor around it."""
    rows, cols = small.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2LAB)
    coarse = cv2.resize(lab, (max(1, cols // 8), max(1, rows // 8)), interpolation=cv2.INTER_AREA)
    floor = cv2.resize(cv2.medianBlur(coarse, _odd(background_size / 8)), (cols, rows), interpolation=cv2.INTER_LINEAR)
    difference = cv2.subtract(floor, lab, dtype=cv2.CV_32F)
    return np.maximum(difference[..., 0], 1.5 * cv2.magnitude(difference[..., 1], difference[..., 2]))


def _specimen_pixels(contrast: np.ndarray, well: np.ndarray, thin_size: int) -> np.ndarray:
    """Strong pixels, with the faint ones of thin parts joined to them and of wide parts joined to a wide strong one."""
    sample = contrast[well][::7]
    noise = 1.4826 * float(np.median(np.abs(sample - np.median(sample))))
    low = max(6.0, 3 * noise)
    faint, strong = well & (contrast > low), well & (contrast > max(18.0, 8 * noise))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(thin_size),) * 2)
    thin = contrast - cv2.morphologyEx(contrast, cv2.MORPH_OPEN, square) > low
    body = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_OPEN, square).astype(bool)
    return _joined(faint & thin, strong) | _joined(faint & ~thin, body)


def detect_specimen(
    rgb: np.ndarray,
    well_radius: float = 0.5,
    gap: float = 0.02,
    background_size: float = 0.2,
    body_width: float = 0.006,
    thin_width: float = 0.02,
) -> Box | None:
    """The box of the one specimen in a CBG photograph (RGB array), in its pixels; None if nothing stands out.

    Specimen = darker or more coloured than the median-smoothed well floor, inside the central disk (not the rim).
    Strong pixels count; faint ones count in parts thinner than `thin_width` joined to them (legs, antennae, veins)
    and in wider parts joined to the body itself (pale wings), not in wide faint shading met only through a leg or
    antenna tip, such as the well's concentric rings. Of the pieces grouped within `gap`, the group with the most
    contrast in parts thicker than `body_width` wins (not dust, hairs or rim lines). Sizes are fractions of the
    shorter side.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECTION_SIZE / min(height, width))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    )
    rows, cols = small.shape[:2]
    side = min(rows, cols)
    contrast = _contrast(small, side * background_size)
    mask = _specimen_pixels(contrast, _well_mask(rows, cols, well_radius), thin_width * side)
    if not mask.any():
        return None
    reach = _odd(gap * side)
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    _, groups = cv2.connectedComponents(grown, connectivity=8)
    thickness = _odd(body_width * side)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
    body = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disk)
    body_pixels = np.flatnonzero(body) if body.any() else np.flatnonzero(mask)
    weights = np.bincount(groups.ravel()[body_pixels], weights=contrast.ravel()[body_pixels])
    pixels = np.flatnonzero(mask)
    specimen = pixels[groups.ravel()[pixels] == np.argmax(weights)]
    found_rows, found_cols = specimen // cols, specimen % cols
    return Box(found_cols.min(), found_rows.min(), found_cols.max() + 1, found_rows.max() + 1).scaled(1 / scale)


class DetrDetector:
    """The published crop tool's DETR (one class, `insect`): the most confident box of a photograph, on the GPU when
    there is one."""

    def __init__(self, model, shorter_side: int = 800, longer_side: int = 1333, device: str | None = None):
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.shorter_side = shorter_side
        self.longer_side = longer_side
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(3, 1, 1)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, **options) -> DetrDetector:
        """The detector with the weights of `checkpoint` (see `load_detr`)."""
        return cls(load_detr(checkpoint), **options)

    def __call__(self, rgb: np.ndarray) -> Box | None:
        import torch

        height, width = rgb.shape[:2]
        scale = min(self.shorter_side / min(height, width), self.longer_side / max(height, width))
        resized = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        pixels = torch.from_numpy(resized).to(self.device).permute(2, 0, 1).float().div_(255)
        with torch.inference_mode():
            output = self.model(pixel_values=((pixels - self.mean) / self.std)[None])
        scores = output.logits.softmax(-1)[0, :, :-1].max(-1).values
        centre_x, centre_y, box_width, box_height = output.pred_boxes[0, int(scores.argmax())].tolist()
        return Box(
            (centre_x - box_width / 2) * width,
            (centre_y - box_height / 2) * height,
            (centre_x + box_width / 2) * width,
            (centre_y + box_height / 2) * height,
        )


LIGHTNING_HYPERPARAMETER_CLASSES = (  # the dict subclass Lightning pickles `hyper_parameters` as, read as a dict
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
)


def _lightning_safe_globals() -> list:
    """The only non-tensor types a Lightning checkpoint may hold besides plain values: its hyper-parameter dict
    and NumPy scalars of callback states."""
    scalar = np._core.multiarray.scalar
    return [
        *((dict, name) for name in LIGHTNING_HYPERPARAMETER_CLASSES),
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),  # as NumPy 1 pickles it
        np.dtype,
        *(type(np.dtype(kind)) for kind in ("float64", "float32", "int64")),
    ]


def read_detr_state(path: Path) -> dict:
    """The DETR weights of a Lightning checkpoint (keys prefixed `model.`) or a state dict file, loaded with
    `weights_only`: nothing in the file can run."""
    import torch

    content = load_checkpoint_file(path, "crop tool checkpoint", _lightning_safe_globals())
    state = content.get("state_dict", content) if isinstance(content, dict) else content
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: no state dict of tensors in it; give the published crop tool checkpoint.")
    return {key.removeprefix("model."): value for key, value in state.items()}


def load_detr(checkpoint: str | os.PathLike):
    """A DETR from a `save_pretrained` folder, or from the published Lightning checkpoint (or a state dict file).

    The network is built offline (no backbone weights fetched from a hub): the checkpoint holds every weight."""
    from transformers import DetrConfig, DetrForObjectDetection

    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: DETR checkpoint not found; give the published crop tool checkpoint or a save_pretrained folder"
        )
    if path.is_dir():
        return DetrForObjectDetection.from_pretrained(path, local_files_only=True).eval()
    state = read_detr_state(path)
    model = DetrForObjectDetection(DetrConfig(num_labels=1, use_pretrained_backbone=False))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a one-class DETR-ResNet-50 state dict ({len(missing)} weights missing, {len(unexpected)} "
            f"unexpected, e.g. {(missing or unexpected)[:3]}); give the published crop tool checkpoint or a "
            "save_pretrained folder"
        )
    return model.eval()


def displayed_size(data: bytes) -> tuple[int, int]:
    """Width and height of an encoded image as shown, after its EXIF orientation."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        return (height, width) if image.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (width, height)


class SpecimenCropper:
    """Turns an encoded photograph into the published `cropped_256` JPEG and its crop box (before padding)."""

    def __init__(
        self,
        detector: str = "builtin",
        checkpoint: str | os.PathLike | None = None,
        size: int = RESIZED_SIDE,
        crop_ratio: float = CROP_RATIO,
        equal_extend: bool = True,
    ):
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose one of {DETECTORS}")
        if detector == "detr" and checkpoint is None:
            raise ValueError("the detr detector needs --checkpoint (the published crop tool weights)")
        images.check_size(size)
        self.detector, self.checkpoint = detector, checkpoint
        self.size, self.crop_ratio, self.equal_extend = size, crop_ratio, equal_extend
        self._detr: DetrDetector | None = None

    def settings(self) -> dict[str, object]:
        """What decides the output, recorded beside it."""
        checkpoint = Path(self.checkpoint).name if self.checkpoint else None
        return {
            "stage": "crop",
            "detector": self.detector,
            "checkpoint": checkpoint,
            "size": self.size,
            "crop_ratio": self.crop_ratio,
            "equal_extend": self.equal_extend,
            "jpeg_quality": images.JPEG_QUALITY,
        }

    def find(self, rgb: np.ndarray) -> Box | None:
        """The specimen's box in the pixels of `rgb`."""
        if self.detector == "builtin":
            return detect_specimen(rgb)
        if self._detr is None:
            self._detr = DetrDetector.from_checkpoint(self.checkpoint)
        return self._detr(rgb)

    def crop_box(self, data: bytes) -> tuple[Box, np.ndarray, float]:
        """The enlarged crop box in full-size pixels (the whole photograph when no specimen is found), with the
        reduced decode (RGB array) it was found on and that decode's scale."""
        width, height = displayed_size(data)
        look = images.decode_array(data, shorter_side=WORKING_SIZE)
        look_scale = width / look.shape[1]
        box = self.find(look)
        if box is None:
            return Box(0, 0, width, height), look, look_scale
        return enlarge_box(box.scaled(look_scale), self.crop_ratio, self.equal_extend), look, look_scale

    def __call__(self, data: bytes) -> tuple[bytes, Box]:
        """The crop as JPEG bytes (shorter side `size`) and the crop box in the photograph's pixels; cut from the
        decode the box was found on, or, for a small specimen, from a sharper one."""
        crop, look, look_scale = self.crop_box(data)
        needed = math.ceil(self.size * min(look.shape[:2]) * look_scale / min(crop.width, crop.height))
        if needed <= min(look.shape[:2]):
            source, scale = look, look_scale
        else:
            source = images.decode_array(data, shorter_side=needed)
            scale = round(look.shape[1] * look_scale) / source.shape[1]
        region = Image.fromarray(cut_padded_array(source, Box(*(round(value / scale) for value in crop))))
        return images.encode_jpeg(images.check_not_blank(images.resize_shorter_side(region, self.size))), crop


def draw_box(image: Image.Image, box: Box, colour: tuple[int, int, int] = (220, 30, 30), width: int = 3) -> Image.Image:
    """A copy of `image` with `box` outlined."""
    marked = image.copy()
    ImageDraw.Draw(marked).rectangle([box.left, box.top, box.right - 1, box.bottom - 1], outline=colour, width=width)
    return marked


def match_crop_box(original: np.ndarray, crop: np.ndarray, min_height: int = 16) -> tuple[Box, float]:
    """Where a resized crop lies inside an original (RGB arrays): its box there and the match score (-1..1),
    by template matching over every scale that keeps the crop's aspect."""
    original_grey = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY).astype(np.float32)
    crop_grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    best_score, best_box = -2.0, Box(0, 0, 0, 0)
    for height in range(min_height, original_grey.shape[0] + 1):
        width = round(crop_grey.shape[1] * height / crop_grey.shape[0])
        if width < 4 or width > original_grey.shape[1]:
            continue
        template = cv2.resize(crop_grey, (width, height), interpolation=cv2.INTER_AREA)
        _, score, _, (left, top) = cv2.minMaxLoc(cv2.matchTemplate(original_grey, template, cv2.TM_CCOEFF_NORMED))
        if score > best_score:
            best_score, best_box = score, Box(left, top, left + width, top + height)
    return best_box, float(best_score)
