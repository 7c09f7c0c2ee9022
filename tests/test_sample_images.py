"""Tests of the synthetic CBG-style specimen photographs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageChops

from bioscan_lib.data import bioscan1m
from bioscan_lib.sample.photographs import (
    DEFAULT_CONDITION,
    ORDERS_DRAWN,
    SHIFTED_CONDITION,
    draw_empty_well,
    draw_photo,
    family_traits,
)
from bioscan_lib.sample.taxonomy import RARE_ORDER_COUNTS

PUBLISHED_ORDERS = tuple(bioscan1m.published_order_counts())  # the 16 orders of the paper


def _changed_box(photo: Image.Image, empty: Image.Image) -> tuple[int, int, int, int] | None:
    return ImageChops.difference(photo, empty).getbbox()


def test_orders_drawn_are_the_published_orders_plus_the_rare_ones():
    assert set(ORDERS_DRAWN) == set(PUBLISHED_ORDERS) | set(RARE_ORDER_COUNTS)
    assert len(ORDERS_DRAWN) == 19


def test_same_generator_state_gives_identical_photographs():
    first, first_box = draw_photo("Diptera", "Sciaridae", np.random.default_rng(11))
    second, second_box = draw_photo("Diptera", "Sciaridae", np.random.default_rng(11))
    third, _ = draw_photo("Diptera", "Sciaridae", np.random.default_rng(12))
    assert first.tobytes() == second.tobytes() and first_box == second_box
    assert first.tobytes() != third.tobytes()


@pytest.mark.parametrize("order", ["Diptera", "Lepidoptera", "Ephemeroptera", "Zoraptera"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_is_exactly_the_pixels_the_specimen_changed(order: str, seed: int):
    photo, box = draw_photo(order, "Chironomidae", np.random.default_rng(seed))
    empty = draw_empty_well(np.random.default_rng(seed))
    assert _changed_box(photo, empty) == box


def test_box_is_exact_at_full_size():
    photo, box = draw_photo("Hymenoptera", "Braconidae", np.random.default_rng(5), (2880, 2160))
    empty = draw_empty_well(np.random.default_rng(5), (2880, 2160))
    assert photo.size == (2880, 2160) and photo.mode == "RGB"
    assert _changed_box(photo, empty) == box


@pytest.mark.parametrize("size", [(720, 540), (341, 256), (1000, 1000)])
def test_size_is_honoured(size: tuple[int, int]):
    photo, (left, top, right, bottom) = draw_photo("Coleoptera", "Carabidae", np.random.default_rng(3), size)
    assert photo.size == size and photo.mode == "RGB"
    assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]


def test_unknown_order_raises_naming_it():
    with pytest.raises(ValueError, match="Odonata"):
        draw_photo("Odonata", "Libellulidae", np.random.default_rng(0))


@pytest.mark.parametrize("order", ORDERS_DRAWN)
def test_every_order_draws_a_specimen_of_realistic_size(order: str):
    photo, (left, top, right, bottom) = draw_photo(order, "not_classified", np.random.default_rng(4))
    longer = max(right - left, bottom - top) / photo.width
    assert 0.02 < longer < 0.6
    specimen = np.asarray(photo.crop((left, top, right, bottom)), dtype=float)
    assert specimen.std() > 5.0


def test_family_traits_are_stable_and_differ_between_families():
    sciaridae, muscidae = family_traits("Diptera", "Sciaridae"), family_traits("Diptera", "Muscidae")
    assert sciaridae == family_traits("Diptera", "Sciaridae")
    assert sciaridae != muscidae
    values = [getattr(sciaridae, name) for name in sciaridae.__dataclass_fields__]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert family_traits("Diptera", "not_classified") != family_traits("Hymenoptera", "not_classified")
    first_two_bytes = hashlib.sha256(b"Diptera/Sciaridae").digest()[:2]
    assert sciaridae.size == pytest.approx(int.from_bytes(first_two_bytes, "big") / 65535)


def test_two_diptera_families_look_different_in_the_same_pose():
    first, first_box = draw_photo("Diptera", "Sciaridae", np.random.default_rng(8))
    second, second_box = draw_photo("Diptera", "Muscidae", np.random.default_rng(8))
    first_colour = np.asarray(first.crop(first_box), dtype=float).reshape(-1, 3).mean(axis=0)
    second_colour = np.asarray(second.crop(second_box), dtype=float).reshape(-1, 3).mean(axis=0)
    assert np.abs(first_colour - second_colour).max() > 2.0


def test_shifted_condition_changes_the_background():
    default = np.asarray(draw_empty_well(np.random.default_rng(2), (320, 240), DEFAULT_CONDITION), dtype=float)
    shifted = np.asarray(draw_empty_well(np.random.default_rng(2), (320, 240), SHIFTED_CONDITION), dtype=float)
    default_tint = default[..., 2].mean() - default[..., 0].mean()
    shifted_tint = shifted[..., 2].mean() - shifted[..., 0].mean()
    assert default_tint > 0 > shifted_tint


def test_photographs_do_not_depend_on_the_cpus_vector_instructions():
    """Drawn again with numpy's CPU-specific SIMD kernels switched off, the photographs are the same bytes, so the
    sample (and every table made from it) is the same on every machine."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    switched_off = [feature for feature in __cpu_dispatch__ if __cpu_features__.get(feature)]
    if not switched_off:
        pytest.skip("this CPU runs none of numpy's dispatched SIMD kernels")
    script = (
        "import hashlib, numpy as np\n"
        "from bioscan_lib.sample.photographs import ORDERS_DRAWN, draw_photo\n"
        "rng = np.random.default_rng(1)\n"
        "for k in range(40):\n"
        "    photo, _ = draw_photo(ORDERS_DRAWN[k % 19], f'F{k % 7}idae', rng)\n"
        "    print(hashlib.md5(photo.tobytes()).hexdigest())\n"
    )
    drawn = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(features)},
        ).stdout
        for features in ([], switched_off)
    ]
    assert drawn[0] == drawn[1]
