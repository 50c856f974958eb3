"""``python -m pipeline.train --mix ...``: a mix of two small datasets trains and evaluates from the command
line; bad specs and options are one line with exit code 2, found before torch is imported."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from pipeline import train, train_mixed
from pipeline.errors import EXIT_ENVIRONMENT, EXIT_USAGE
from tests.conftest import PROJECT_ROOT, load_photo

NO_TORCH = "import sys\n{body}\nassert 'torch' not in sys.modules, 'torch was imported'\n"


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory) -> dict[str, Path]:
    """Two CSV datasets of blurred photo crops on unrelated scales (a: 10 - 2 sigma, b: DMOS-like 20 sigma)."""
    root = tmp_path_factory.mktemp("cli-mix")
    tables = {}
    for dataset, photos in (("a", ("astronaut", "coffee")), ("b", ("rocket", "chelsea"))):
        rows = []
        for photo in photos:
            image = load_photo(photo, (192, 64))
            for c in range(3):
                crop = image[:, c * 64: c * 64 + 64]
                for sigma in (0.0, 1.0, 2.0, 4.0):
                    name = f"{photo}_{c}_{sigma:g}.png"
                    cv2.imwrite(str(root / name), (cv2.GaussianBlur(crop, (0, 0), sigma) if sigma else crop)[:, :, ::-1])
                    rows.append((name, 10 - 2 * sigma if dataset == "a" else 20 * sigma, f"{photo}_{c}"))
        tables[dataset] = root / f"{dataset}.csv"
        with open(tables[dataset], "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "score", "group"])
            writer.writerows(rows)
    return tables


def test_help_and_bad_specs_answer_without_torch(two_sets):
    code = ("from pipeline import train\ntry:\n    train.main(['--mix', '--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0")
    result = python(NO_TORCH.format(body=code))
    assert result.returncode == 0, result.stderr
    assert "--dataset-option" in result.stdout and "name=[adapter@]root[:label]" in result.stdout
    bad = python(NO_TORCH.format(body=f"from pipeline import train\ncode = train.main(['--mix', "
                                      f"'a=csv@{two_sets['a']}', 'b=nosuch@/tmp'])") + "sys.exit(code)\n")
    assert bad.returncode == EXIT_USAGE, bad.stderr
    assert bad.stderr.count("\n") == 1 and "unknown dataset adapter 'nosuch'" in bad.stderr


def test_known_names_match_the_registries():
    from learning.mixed.methods import METHODS
    from learning.mixed.regressors import REGRESSORS

    assert set(train_mixed.METHODS) == set(METHODS)
    assert set(train_mixed.OWN_REGRESSORS) == set(REGRESSORS)


@pytest.mark.parametrize("arguments, message", [
    (["--mix", "a"], "write name=[adapter@]root[:label]"),
    (["--mix", "a=csv@{a}", "a=csv@{b}"], "dataset name 'a' is given twice"),
    (["--mix", "a=csv@{a}:MOS"], "adapter csv has no label 'MOS'"),
    (["--mix", "a=csv@{a}", "b=kadid10k@/no/such/folder"], "b: /no/such/folder does not exist"),
    (["--mix", "a=csv@{a}", "--dataset-option", "c.weight=2"], "no dataset 'c' in --mix (a)"),
    (["--mix", "a=csv@{a}", "--dataset-option", "a.weight=heavy"], "weight must be a number"),
    (["--mix", "a=csv@{a}", "--dataset-option", "a-weight"], "takes NAME.KEY=VALUE"),
    (["--mix", "a=csv@{a}", "--split-fractions", "0.5", "0.5", "0.5"], "--split-fractions must be three"),
    (["--mix", "a=csv@{a}", "--resize", "64", "--crop", "96"], "--resize 64 is smaller than --crop 96"),
    (["--mix", "a=csv@{a}", "--epochs", "0"], "--epochs must be positive"),
    (["--mix", "a=csv@{a}", "--regressor", "ra_miqa"], "unknown regressor 'ra_miqa'"),
    (["--mix", "a=csv@{a}", "--freeze-backbone"], "--freeze-backbone is for registry models"),
])  # fmt: skip
def test_bad_specs_and_options_are_one_line_with_exit_2(two_sets, capsys, arguments, message):
    code = train.main([a.format(**two_sets) for a in arguments])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def _fast(out: Path) -> list[str]:
    """Tiny settings: frozen EfficientNet-Lite0 features of 64 px crops, small mappers, a few steps."""
    return ["--regressor", "frozen-lite0", "--head", "16", "--minn-hidden", "8", "8", "--minn-steps", "12",
            "--resize", "64", "--crop", "64", "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "4",
            "--lr", "3e-3", "--split-fractions", "0.5", "0.25", "0.25", "--threads", "1", "--no-progress",
            "--feature-cache", str(out.parent / "features"), "--out", str(out)]


def test_a_mix_trains_and_evaluates_from_the_command_line(two_sets, tmp_path, capsys):
    out = tmp_path / "run"
    arguments = ["--mix", f"a=csv@{two_sets['a']}", f"b=csv@{two_sets['b']}", "--dataset-option", "b.weight=2",
                 "b.lower_is_better=true", "--splits", "2", *_fast(out)]
    assert train.main(arguments) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["splits"] == [0, 1] and summary["sizes"] == {"a": 24, "b": 24}
    settings = json.loads((out / "split_1" / "settings.json").read_text())
    assert settings["method"] == "mimi" and settings["split"]["index"] == 1
    assert settings["datasets"][1]["weight"] == 2.0
    assert settings["datasets"][1]["options"] == [["lower_is_better", "true"]]
    for name in ("a", "b"):
        per_split = [json.loads((out / f"split_{i}" / "results.json").read_text())["metrics"]["test"][name]["srcc"]
                     for i in (0, 1)]
        assert summary["median"][name]["srcc"] == pytest.approx(sum(per_split) / 2)
        line = next(row for row in printed.splitlines() if row.startswith(f"{name} "))
        assert f"{summary['median'][name]['srcc']:.4f}" in line
    assert f"{summary['weighted']['srcc']:.4f}" in next(r for r in printed.splitlines() if r.startswith("size-weighted"))
    # the same command again: the finished runs are read back, the figures are the same
    assert train.main(arguments) == 0
    assert capsys.readouterr().out == printed
    # other settings in the same folder: one line, exit 2
    assert train.main([*arguments, "--method", "naive"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err and "method" in err


def test_missing_pretrained_weights_offline_are_an_environment_error(two_sets, tmp_path, capsys):
    from oracles.weights import torchvision_cache_dir

    if (torchvision_cache_dir() / "resnet18-f37072fd.pth").is_file():
        pytest.skip("resnet18's weights are in the torch cache: nothing is missing")
    code = train.main(["--mix", f"a=csv@{two_sets['a']}", "--regressor", "resnet18", "--offline", "--weights-dir",
                       str(tmp_path / "empty"), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT
    assert "resnet18-f37072fd.pth" in err and "--weights-dir" in err and "--no-pretrained" in err


@pytest.mark.slow
def test_a_registry_model_is_the_shared_regressor(two_sets, tmp_path, capsys):
    """EfficientNet-Lite0 of the single-database registry, frozen (features cached), with the FC head."""
    out = tmp_path / "registry"
    arguments = ["--mix", f"a=csv@{two_sets['a']}", f"b=csv@{two_sets['b']}", *_fast(out)]
    arguments[arguments.index("frozen-lite0")] = "efficientnet_lite0"
    assert train.main([*arguments, "--freeze-backbone", "--method", "naive"]) == 0
    settings = json.loads((out / "split_0" / "settings.json").read_text())
    assert settings["regressor"]["name"] == "efficientnet_lite0" and settings["regressor"]["freeze_backbone"]
    assert list((out.parent / "features").glob("features-*.pt"))  # the frozen backbone's features were cached
    results = json.loads((out / "split_0" / "results.json").read_text())
    assert results["steps"] == 6 and set(results["metrics"]["test"]) == {"a", "b"}
