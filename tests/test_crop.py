"""The crop tool: the published enlargement and padding, the built-in detector on synthetic photographs, DETR, matching."""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import types
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from bioscan_lib.data import images
from bioscan_lib.preprocess import crop
from bioscan_lib.preprocess import process as preprocess
from bioscan_lib.preprocess.crop import Box
from bioscan_lib.sample.photographs import DEFAULT_CONDITION, ORDERS_DRAWN, draw_photo


@pytest.fixture(scope="module")
def photographs() -> list[tuple[bytes, Box]]:
    """Two synthetic CBG photographs of every drawn order, as JPEG bytes with their true boxes."""
    rng = np.random.default_rng(5)
    drawn = [
        draw_photo(order, f"{order}idae{k}", rng, condition=DEFAULT_CONDITION)
        for k in range(2)
        for order in ORDERS_DRAWN
    ]
    return [(images.encode_jpeg(photo), Box(*truth)) for photo, truth in drawn]


def test_enlarge_box_equal_extension_grows_both_sides_by_the_longer_side():
    assert crop.enlarge_box(Box(100, 100, 200, 150)) == Box(80, 80, 220, 170)


def test_enlarge_box_without_equal_extension_grows_each_side_by_its_own_length():
    assert crop.enlarge_box(Box(100, 100, 200, 150), equal_extend=False) == Box(80, 90, 220, 160)


def test_enlarge_box_rounds_outwards():
    assert crop.enlarge_box(Box(10.5, 10.5, 20.2, 15.0), crop_ratio=1.0) == Box(10, 10, 21, 15)


def test_cut_padded_fills_outside_the_photograph_with_240():
    image = Image.new("RGB", (50, 40), (10, 20, 30))
    cut = np.asarray(crop.cut_padded(image, Box(-10, -5, 30, 25)))
    assert cut.shape == (30, 40, 3)
    assert (cut[:5] == 240).all() and (cut[:, :10] == 240).all()
    assert (cut[5:, 10:] == (10, 20, 30)).all()


def test_cut_padded_array_is_cut_padded_on_pixels():
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    for box in (Box(5, 6, 25, 20), Box(-7, -3, 12, 9), Box(30, 20, 55, 41), Box(-5, -5, 45, 35), Box(50, 40, 60, 48)):
        expected = np.asarray(crop.cut_padded(Image.fromarray(rgb), box))
        assert np.array_equal(crop.cut_padded_array(rgb, box), expected), box
        assert expected.shape[:2] == (box.height, box.width)


def test_box_iou_and_contains():
    assert crop.box_iou(Box(0, 0, 10, 10), Box(5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert crop.box_contains(Box(0, 0, 10, 10), Box(2, 2, 10, 9))
    assert not crop.box_contains(Box(0, 0, 10, 10), Box(2, 2, 11, 9))


def test_every_crop_contains_the_true_box_and_is_not_much_larger(photographs):
    cropper = crop.SpecimenCropper()
    for data, truth in photographs:
        box, _, _ = cropper.crop_box(data)
        assert crop.box_contains(box, truth), (box, truth)
        assert crop.box_iou(box, crop.enlarge_box(truth)) > 0.5, (box, truth)


def test_cropper_writes_256_on_the_shorter_side_and_the_box_in_photograph_pixels(photographs):
    data, truth = photographs[0]
    encoded, box = crop.SpecimenCropper()(data)
    result = Image.open(io.BytesIO(encoded))
    assert result.format == "JPEG" and min(result.size) == 256
    assert result.size[0] / result.size[1] == pytest.approx(box.width / box.height, rel=0.02)
    assert crop.box_contains(box, truth)


def full_size_photo(specimen_length: int) -> bytes:
    """A 2880x2160 JPEG: a light, slightly noisy floor with one dark specimen (body and legs) of the given length."""
    rng = np.random.default_rng(specimen_length)
    floor = np.clip(rng.normal((200, 205, 215), 3, (2160, 2880, 3)), 0, 255).astype(np.uint8)
    photo = Image.fromarray(floor)
    draw = ImageDraw.Draw(photo)
    left, top = 1440 - specimen_length // 2, 1080 - specimen_length // 4
    draw.ellipse((left, top, left + specimen_length, top + specimen_length // 2), fill=(70, 45, 25))
    for k in range(3):
        x = left + specimen_length * (k + 1) // 4
        draw.line((x, top, x - specimen_length // 8, top - specimen_length // 6), fill=(90, 60, 40), width=6)
    return images.encode_jpeg(photo, quality=92)


def _psnr(first: Image.Image, second: Image.Image) -> float:
    difference = np.asarray(first, float) - np.asarray(second, float)
    return float(10 * np.log10(255**2 / np.mean(difference**2)))


@pytest.mark.parametrize(("specimen_length", "decodes"), [(700, 1), (160, 2)])
def test_a_full_size_crop_is_cut_from_one_half_scale_decode_unless_the_specimen_is_tiny(
    monkeypatch, specimen_length, decodes
):
    data = full_size_photo(specimen_length)
    decoded, decode = [], images.decode_array
    monkeypatch.setattr(
        images, "decode_array", lambda *args, **kwargs: decoded.append(decode(*args, **kwargs)) or decoded[-1]
    )
    encoded, box = crop.SpecimenCropper()(data)
    assert [array.shape[:2] for array in decoded] == [(1080, 1440), (2160, 2880)][:decodes]
    reference = images.resize_shorter_side(crop.cut_padded(decode(data), box), 256)
    assert _psnr(Image.open(io.BytesIO(encoded)), reference) > 36


def test_the_wells_faint_rings_are_not_taken_for_the_specimen():
    """A faint dark ring of the well floor, touched by the specimen's leg, stays out of the box (real CBG wells have them)."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[:540, :720]
    radius = np.hypot(rows - 270, cols - 360)
    floor = rng.normal((200, 205, 215), 1.0, (540, 720, 3)) - 9 * ((radius > 100) & (radius < 125))[..., None]
    photo = Image.fromarray(np.clip(floor, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(photo)
    draw.ellipse((345, 262, 375, 278), fill=(60, 40, 30))
    draw.line((370, 275, 430, 360), fill=(120, 100, 90), width=2)
    found = crop.detect_specimen(np.asarray(photo))
    assert found.width < 100 and found.height < 110, found
    assert crop.box_contains(found, Box(345, 262, 376, 279))


def test_a_pale_wing_joined_to_the_body_counts():
    """A wide, faint, vein-less wing beyond the abdomen belongs to the specimen."""
    rng = np.random.default_rng(4)
    photo = Image.fromarray(np.clip(rng.normal((200, 205, 215), 1.0, (540, 720, 3)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(photo)
    draw.polygon([(370, 262), (440, 250), (445, 290), (370, 278)], fill=(228, 226, 220))
    draw.ellipse((320, 258, 380, 282), fill=(90, 80, 40))
    found = crop.detect_specimen(np.asarray(photo))
    assert crop.box_contains(found, Box(320, 252, 444, 289)), found


def test_an_empty_well_is_kept_whole():
    assert crop.detect_specimen(np.full((270, 360, 3), 200, np.uint8)) is None
    empty = images.encode_jpeg(Image.new("RGB", (360, 270), (200, 200, 200)))
    assert crop.SpecimenCropper().crop_box(empty)[0] == Box(0, 0, 360, 270)


def test_crop_of_a_specimen_at_the_edge_is_padded_with_240():
    image = Image.new("RGB", (360, 270), (200, 205, 215))
    image.paste((40, 30, 20), (150, 0, 210, 40))
    encoded, box = crop.SpecimenCropper(size=64)(images.encode_jpeg(image, quality=95))
    assert box.top < 0
    top_row = np.asarray(Image.open(io.BytesIO(encoded)))[0].astype(int)
    assert np.abs(top_row - 240).max() <= 6


def test_crop_package_boxes_csv_holds_every_true_box(tmp_path, photographs):
    records = [images.ImageRecord(1, f"photo{k:02d}.jpg", data) for k, (data, _) in enumerate(photographs[:6])]
    images.write_folder(records, tmp_path / "original_full")
    boxes_csv = tmp_path / "boxes.csv"
    result = preprocess.crop_package(
        tmp_path / "original_full", tmp_path / "out", ("folder",), workers=1, boxes_csv=boxes_csv
    )
    table = pd.read_csv(boxes_csv)
    assert list(table.columns) == preprocess.BOX_COLUMNS
    assert result.images == 6 and len(table) == 6
    for row, (_, truth) in zip(table.itertuples(), photographs[:6]):
        assert crop.box_contains(Box(row.left, row.top, row.right, row.bottom), truth)
        assert (row.width, row.height) == (row.right - row.left, row.bottom - row.top)


def test_match_crop_box_finds_a_resized_crop_inside_its_original(photographs):
    original = images.decode_image(photographs[3][0])
    official = Box(200, 120, 420, 340)
    crop_image = crop.cut_padded(original, official).resize((256, 256), Image.Resampling.LANCZOS)
    small = np.asarray(images.resize_shorter_side(original, 256))
    found, score = crop.match_crop_box(small, np.asarray(crop_image))
    assert score > 0.9
    assert crop.box_iou(found, official.scaled(256 / 540)) > 0.9


def _tiny_detr():
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 8, 8], depths=[1, 1, 1, 1], out_features=["stage4"])
    config = DetrConfig(
        backbone_config=backbone,
        num_labels=1,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        num_queries=4,
    )
    return DetrForObjectDetection(config).eval()


def test_detr_detector_keeps_the_most_confident_box(tmp_path):
    import torch

    logits = torch.tensor([[[0.0, 1.0], [3.0, 0.0], [1.0, 1.0]]])
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.25, 0.5, 0.1, 0.4], [0.5, 0.5, 1.0, 1.0]]])

    class FixedOutput(torch.nn.Module):
        def forward(self, pixel_values):
            return SimpleNamespace(logits=logits, pred_boxes=boxes)

    detector = crop.DetrDetector(FixedOutput(), shorter_side=64, longer_side=96, device="cpu")
    assert detector(np.zeros((100, 200, 3), np.uint8)) == pytest.approx(Box(40, 30, 60, 70))


def test_detr_checkpoint_folder_drives_the_crop(tmp_path, photographs):
    import torch

    torch.manual_seed(0)
    _tiny_detr().save_pretrained(tmp_path / "detr")
    cropper = crop.SpecimenCropper("detr", tmp_path / "detr")
    cropper._detr = crop.DetrDetector.from_checkpoint(tmp_path / "detr", shorter_side=64, longer_side=96, device="cpu")
    encoded, box = cropper(photographs[0][0])
    found = cropper._detr(np.asarray(images.decode_image(photographs[0][0], shorter_side=800)))
    assert min(Image.open(io.BytesIO(encoded)).size) == 256
    assert box == crop.enlarge_box(found)


def test_detr_needs_a_checkpoint_and_rejects_a_foreign_state_dict(tmp_path):
    import torch

    with pytest.raises(ValueError, match="--checkpoint"):
        crop.SpecimenCropper("detr")
    torch.save({"state_dict": {"model.backbone.unknown": torch.zeros(1)}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ValueError, match="not a one-class DETR"):
        crop.load_detr(tmp_path / "foreign.ckpt")
    with pytest.raises(FileNotFoundError):
        crop.load_detr(tmp_path / "missing.ckpt")


def test_an_interrupted_crop_run_keeps_its_journal_of_boxes(tmp_path, photographs):
    records = [images.ImageRecord(1, f"photo{k}.jpg", data) for k, (data, _) in enumerate(photographs[:3])]
    images.write_folder(records, tmp_path / "original_full")
    encoded, box = crop.SpecimenCropper()(records[0].data)
    images.write_folder(
        [images.ImageRecord(1, "photo0.jpg", encoded)], tmp_path / "out" / "images" / ".cropped_256.staging"
    )
    journal = tmp_path / "boxes.csv.journal"
    images.write_folder(
        [images.ImageRecord(1, "photo1.jpg", encoded)], tmp_path / "out" / "images" / ".cropped_256.staging"
    )
    complete_row = f"photo0.jpg,{','.join(str(int(v)) for v in box)},1,1\n"
    journal.write_text(",".join(preprocess.BOX_COLUMNS) + "\n" + complete_row + "photo1.jpg,3")  # killed mid-line
    result = preprocess.crop_package(
        tmp_path / "original_full", tmp_path / "out", ("zip",), workers=1, boxes_csv=tmp_path / "boxes.csv"
    )
    assert (result.written, result.already_done) == (2, 1)
    table = pd.read_csv(tmp_path / "boxes.csv")
    assert list(table["image_file"]) == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    assert not journal.exists()
    assert len(list(images.open_package(tmp_path / "out" / "cropped_256.zip").names())) == 3


@contextlib.contextmanager
def lightning_importable():
    """A stand-in `pytorch_lightning.utilities.parsing.AttributeDict`, so a checkpoint can be pickled as Lightning does."""
    names = ["pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"]
    modules = {name: types.ModuleType(name) for name in names}
    attribute_dict = type("AttributeDict", (dict,), {"__module__": names[-1]})
    modules[names[-1]].AttributeDict = attribute_dict
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(modules)
    try:
        yield attribute_dict
    finally:
        for name, module in saved.items():
            sys.modules.pop(name) if module is None else sys.modules.__setitem__(name, module)


def test_the_published_lightning_checkpoint_loads_offline_without_running_code(tmp_path, photographs, monkeypatch):
    import numpy
    import torch
    from transformers import DetrConfig, DetrForObjectDetection

    torch.manual_seed(0)
    published = DetrForObjectDetection(DetrConfig(num_labels=1, use_pretrained_backbone=False)).eval()
    with lightning_importable() as attribute_dict:
        checkpoint = {
            "epoch": 11,
            "global_step": 1200,
            "pytorch-lightning_version": "1.9.5",
            "state_dict": {f"model.{key}": value for key, value in published.state_dict().items()},
            "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 12}}}},
            "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": numpy.float64(0.5), "dirpath": "x"}},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}],
            "lr_schedulers": [],
            "hparams_name": "kwargs",
            "hyper_parameters": attribute_dict(lr=1e-4, lr_backbone=1e-5, weight_decay=1e-4),
        }
        path = tmp_path / "BIOSCAN_Insect_crop_tool_checkpoint.ckpt"
        torch.save(checkpoint, path)

    def no_network(*arguments):
        raise AssertionError("the crop tool tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    loaded = crop.load_detr(path)
    pixels = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected, found = published(pixel_values=pixels), loaded(pixel_values=pixels)
    torch.testing.assert_close(found.pred_boxes, expected.pred_boxes, rtol=0, atol=0)
    detector = crop.DetrDetector(loaded, shorter_side=64, longer_side=96, device="cpu")
    assert detector(np.asarray(images.decode_image(photographs[0][0], shorter_side=200))) is not None


class RunsCode:
    """An object whose unpickling would create a file: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_a_crafted_or_truncated_detr_checkpoint_is_refused_and_runs_nothing(tmp_path):
    import torch

    marker = tmp_path / "code_ran"
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {"model.x": torch.zeros(1)}, "hyper_parameters": RunsCode(marker)}, crafted)
    with pytest.raises(ValueError, match=r"crafted.ckpt: refused.*do not trust this file"):
        crop.load_detr(crafted)
    assert not marker.exists()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(crafted.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        crop.load_detr(truncated)


def test_boxes_of_photographs_the_source_no_longer_holds_are_dropped(tmp_path, photographs):
    images.write_folder([images.ImageRecord(1, "gone.jpg", photographs[0][0])], tmp_path / "earlier")
    boxes_csv = tmp_path / "boxes.csv"
    preprocess.crop_package(tmp_path / "earlier", tmp_path / "out", ("folder",), workers=1, boxes_csv=boxes_csv)
    images.write_folder([images.ImageRecord(1, "kept.jpg", photographs[1][0])], tmp_path / "original_full")
    result = preprocess.crop_package(
        tmp_path / "original_full", tmp_path / "out", ("folder",), workers=1, boxes_csv=boxes_csv
    )
    assert result.boxes["image_file"].tolist() == ["kept.jpg"] == pd.read_csv(boxes_csv)["image_file"].tolist()
