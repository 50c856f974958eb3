"""Training: the protocol's defaults and schedule, settings layering, a run's files, refusal of other settings,
and resumption that reaches exactly the uninterrupted run's weights (in process, and after kill -9)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from learning.checkpoint import load_checkpoint
from learning.training.loop import LoopPlan
from learning.training.schedule import WarmupCosine
from learning.training.settings import SettingsError, TrainSettings, make_settings
from pipeline import train as train_cli
from tests.conftest import PROJECT_ROOT
from tests.learning.databases import small_database, write_split_files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("train")
    out = small_database(root, photos=("astronaut", "coffee", "rocket"))
    owner = {name: name for name in ("astronaut", "coffee", "rocket")}
    train, test = write_split_files(root / "split", owner, {"rocket"})
    return {"db": str(out), "train": str(train), "test": str(test), "root": str(root)}


def tiny_args(tiny: dict[str, str], run_dir: Path, *extra: str) -> list[str]:
    return ["--db", tiny["db"], "--train-split", tiny["train"], "--test-split", tiny["test"], "--model", "resnet18",
            "--no-pretrained", "--resize", "36", "--crop", "32", "--batch-size", "16", "--epochs", "2",
            "--workers", "0", "--threads", "1", "--no-progress", "--run-dir", str(run_dir), *extra]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    different = [k for k in first if not torch.equal(first[k], second[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_defaults_are_the_release_protocol():
    s = TrainSettings(db="out")
    assert (s.loss, s.lr, s.weight_decay, s.betas, s.eps) == ("mse", 1e-4, 1e-4, (0.9, 0.999), 1e-8)
    assert (s.warmup_epochs, s.warmup_lr, s.min_lr, s.batch_size, s.epochs) == (1.0, 5e-6, 1e-8, 256, 5)
    assert (s.resize, s.crop, s.region_size, s.validations_per_epoch, s.seed) == (288, 224, 288, 2, 1234567)
    assert (s.label, s.aggregation, s.val_fraction) == ("composite", "weighted", 0.0)


def test_schedule_equals_timm_cosine_scheduler():
    timm_scheduler = pytest.importorskip("timm.scheduler.cosine_lr")
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    reference = timm_scheduler.CosineLRScheduler(optimizer, t_initial=50, lr_min=1e-8, warmup_lr_init=5e-6,
                                                  warmup_t=10, cycle_limit=1, t_in_epochs=False)
    ours = WarmupCosine(1e-4, 5e-6, 1e-8, 10, 50)
    for step in range(60):
        reference.step_update(step)
        assert ours(step) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
    assert ours(0) == 5e-6 and ours(60) == 1e-8


def test_weight_decay_spares_biases_and_norms_as_timm_does():
    timm_optim = pytest.importorskip("timm.optim")
    from learning.training.run import parameter_groups

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.LayerNorm(4), torch.nn.Linear(4, 1), torch.nn.Linear(1, 1, bias=False))
    model[5].weight.requires_grad_(False)
    ours = {group["weight_decay"]: {id(p) for p in group["params"]} for group in parameter_groups(model, 1e-4)}
    reference = {group["weight_decay"]: {id(p) for p in group["params"]}
                 for group in timm_optim.param_groups_weight_decay(model, 1e-4)}
    assert ours == reference
    assert ours[1e-4] == {id(model[0].weight), id(model[4].weight)}


def test_validations_are_spread_over_each_epoch():
    assert LoopPlan.spaced(5, 10, 2).validate_after == (5, 10)
    assert LoopPlan.spaced(5, 7, 2).validate_after == (4, 7)
    assert LoopPlan.spaced(5, 1, 2).validate_after == (1,)
    assert LoopPlan.spaced(2, 9, 3, 4).total_steps == 18


def test_settings_layers_defaults_config_and_flags(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("db: out\nlr: 3.0e-4\nbetas: [0.8, 0.99]\nepochs: 2\nmodel: efficientnet_lite0\n")
    settings = make_settings({"epochs": "7", "pretrained": "false"}, config)
    assert (settings.lr, settings.betas, settings.epochs, settings.pretrained) == (3e-4, (0.8, 0.99), 7, False)
    assert settings.model == "efficientnet_lite0" and settings.batch_size == 256
    config.write_text("db: out\nlearning_rate: 1\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        make_settings({}, config)
    with pytest.raises(SettingsError, match="is not a valid int"):
        make_settings({"db": "out", "epochs": "2.5"})
    with pytest.raises(SettingsError, match="crop"):
        make_settings({"db": "out", "crop": 300})
    with pytest.raises(SettingsError, match="both train_split and test_split"):
        make_settings({"db": "out", "train_split": "a.csv"})


def test_run_folder_follows_the_result_settings_only():
    a = TrainSettings(db="out", workers=0, device="cpu", checkpoint_every=3)
    b = TrainSettings(db="out", workers=8)
    assert a.resolved_run_dir() == b.resolved_run_dir()
    assert a.resolved_run_dir() != TrainSettings(db="out", lr=2e-4).resolved_run_dir()
    assert str(a.resolved_run_dir()).startswith("runs/cls-composite-resnet50-")


def test_a_run_writes_its_files_and_refuses_other_settings(tiny, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_cli.main(tiny_args(tiny, run_dir)) == 0
    assert {p.name for p in run_dir.iterdir()} >= {"settings.json", "split.json", "last.pt", "best.pt",
                                                   "history.json", "history.png"}
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0.5714, 1.0, 1.5714, 2.0] and all(h["srcc"] == h["srcc"] for h in history)
    split = json.loads((run_dir / "split.json").read_text())
    assert split["test"] == ["rocket"] and split["train"] == ["astronaut", "coffee"]
    best = load_checkpoint(run_dir / "best.pt")
    assert "training" not in best and best["progress"]["best_step"] in [h["global_step"] for h in history]
    assert best["progress"]["best_srcc"] == max(h["srcc"] for h in history)
    capsys.readouterr()
    assert train_cli.main(tiny_args(tiny, run_dir)) == 0  # finished: reports, trains nothing
    assert "best validation SRCC" in capsys.readouterr().err
    assert train_cli.main(tiny_args(tiny, run_dir, "--lr", "3e-4")) == 2
    error = capsys.readouterr().err
    assert "lr: existing 0.0001, requested 0.0003" in error and error.count("\n") == 1


def test_bad_input_is_one_line(tiny, tmp_path, capsys):
    cases = [
        (["--db", str(tmp_path / "none")], "db: ", 2),
        (["--db", tiny["db"], "--model", "resnet5"], "did you mean resnet50", 2),
        (["--db", tiny["db"], "--epochs", "0"], "epochs must be at least 1", 2),
        (["--db", tiny["db"], "--subset", "det", "--no-pretrained", "--run-dir", str(tmp_path / "r")],
         "no det labels found", 2),
        (["--db", tiny["db"], "--model", "efficientnet_b5", "--offline", "--weights-dir", str(tmp_path),
          "--run-dir", str(tmp_path / "r2"), "--threads", "1"], "--no-pretrained", 3),
    ]
    for args, expected, code in cases:
        assert train_cli.main(args) == code
        error = capsys.readouterr().err
        assert expected in error and error.startswith("error: ")
        assert "Traceback" not in error


def test_an_interrupted_run_resumes_to_the_same_weights(tiny, tmp_path, monkeypatch):
    """A crash at step 9 (checkpoints every 3 steps and at validations), then the same command again."""
    assert train_cli.main(tiny_args(tiny, tmp_path / "whole")) == 0
    import learning.training.run as run_module

    original = run_module.run_loop

    def crashing(*args):
        hooks = args[-1]

        def on_step(progress, loss, size):
            if progress.global_step == 9:
                raise KeyboardInterrupt  # what Ctrl-C does between two steps
            hooks.on_step(progress, loss, size)

        return original(*args[:-1], dataclasses.replace(hooks, on_step=on_step))

    monkeypatch.setattr(run_module, "run_loop", crashing)
    args = tiny_args(tiny, tmp_path / "resumed", "--checkpoint-every", "3")
    assert train_cli.main(args) == 130
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["progress"]["global_step"] == 7
    monkeypatch.setattr(run_module, "run_loop", original)
    assert train_cli.main(args) == 0
    assert_same_weights(tmp_path / "whole" / "last.pt", tmp_path / "resumed" / "last.pt")
    assert_same_weights(tmp_path / "whole" / "best.pt", tmp_path / "resumed" / "best.pt")
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    assert whole == json.loads((tmp_path / "resumed" / "history.json").read_text())


@pytest.mark.slow
def test_kill_9_then_the_same_command_reaches_the_uninterrupted_result(tiny, tmp_path):
    whole = tmp_path / "whole"
    assert train_cli.main(tiny_args(tiny, whole, "--epochs", "3")) == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "pipeline.train",
               *tiny_args(tiny, killed, "--epochs", "3", "--checkpoint-every", "2", "--workers", "1")]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        last = killed / "last.pt"
        if last.exists() and load_checkpoint(last)["progress"]["global_step"] >= 5:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    step = load_checkpoint(killed / "last.pt")["progress"]["global_step"]
    assert 5 <= step < 21
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming at epoch" in result.stderr
    assert_same_weights(whole / "last.pt", killed / "last.pt")
    assert_same_weights(whole / "best.pt", killed / "best.pt")


def test_help_and_validation_do_not_import_torch():
    code = ("import sys\nfrom pipeline import train, evaluate, predict\n"
            "for main, args in ((train.main, ['--db', '/nonexistent']), (evaluate.main, ['--checkpoint', '/x.pt']),"
            " (predict.main, ['--checkpoint', '/x.pt', 'a.png'])):\n"
            "    assert main(args) == 2\n"
            "try:\n    train.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def without_key_bias(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the attention key biases: their gradient is exactly zero (softmax ignores a shift
    shared by every key), so all they get is rounding noise, which Adam's normalised steps scale up to the
    learning rate: they differ between any two ways of summing the same gradients."""
    out = {}
    for name, value in state.items():
        if name.endswith("attn.qkv.bias"):
            query, _, values = value.chunk(3)
            value = torch.cat([query, values])
        out[name] = value
    return out


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tiny, tmp_path):
    """torchrun with 2 CPU processes (gloo): each rank's share of a step's batch together is the single
    process's batch, so a model without batch norm (ViT-S) reaches the same weights up to rounding."""
    pytest.importorskip("timm")
    vit = ["--model", "vit_small_patch16_224", "--batch-size", "8", "--epochs", "1"]
    single = tmp_path / "single"
    assert train_cli.main(tiny_args(tiny, single, *vit)) == 0
    pair = tmp_path / "pair"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "pipeline.train", *tiny_args(tiny, pair, *vit)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stderr
    one, two = (without_key_bias(weights(run / "last.pt")) for run in (single, pair))
    assert all(torch.allclose(one[k], two[k], atol=1e-5, rtol=1e-4) for k in one)
    history = [json.loads((run / "history.json").read_text()) for run in (single, pair)]
    assert [h["srcc"] for h in history[0]] == pytest.approx([h["srcc"] for h in history[1]], abs=1e-3)
