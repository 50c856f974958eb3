"""``python -m degradations``: the default mask without --mask, and bad input in one line."""

from __future__ import annotations

import numpy as np
from PIL import Image

from degradations.__main__ import main
from tests.conftest import load_photo


def test_without_mask_the_pipelines_default_mask_is_built_and_saved(tmp_path, capsys):
    import masks

    photo = tmp_path / "chelsea.png"
    Image.fromarray(load_photo("chelsea", (96, 64))).save(photo)
    assert main([str(photo), "--out", str(tmp_path / "out"), "--distortions", "contrast"]) == 0
    assert f"default method '{masks.DEFAULT}'" in capsys.readouterr().err
    folder = tmp_path / "out" / "chelsea"
    saved = np.asarray(Image.open(folder / "chelsea_binary_mask.png"))
    assert np.array_equal(saved, masks.default_mask(load_photo("chelsea", (96, 64))).mask)
    uniform = np.asarray(Image.open(folder / "chelsea_contrast_5.png"))
    fused = np.asarray(Image.open(folder / "chelsea_contrast_fg_stronger_fg5_bg1.png"))
    assert 0 < saved.mean() / 255 < 1 and not np.array_equal(uniform, fused)  # region patterns differ


def test_bad_input_is_one_line(tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.fromarray(load_photo("coffee", (60, 40))).save(photo)
    mask = tmp_path / "m.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    for args, expected in (([str(tmp_path / "missing.png")], "does not exist"),
                           ([str(photo), "--mask", str(mask)], "mask " + str(mask) + " is 10x10, the image is 60x40")):
        assert main([*args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and expected in err
