"""The command lines as a new user meets them: fast answers, one-line errors with documented exit codes, a
clean Ctrl-C, and the Python API that mirrors them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from pipeline.driver import Execution
from pipeline.errors import EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EXIT_USAGE, EnvironmentProblem
from tests.conftest import PROJECT_ROOT, load_photo
from tests.pipeline.test_generate import tree_digest

NO_TORCH = "import sys; {body}; assert 'torch' not in sys.modules, 'torch was imported'"


def python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, **kwargs)


@pytest.mark.parametrize("module", ["pipeline.generate", "pipeline.score", "pipeline.metrics", "pipeline.status",
                                    "pipeline.export", "pipeline.report", "degradations"])
def test_help_does_not_import_torch_nor_pyarrow(module):
    # pyarrow (with pandas behind it) alone costs seconds on a busy machine: --help must not wait for it
    code = (f"import runpy, sys\nsys.argv = ['{module}', '--help']\ntry:\n    runpy.run_module('{module}', "
            "run_name='__main__')\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'\n"
            "assert 'pyarrow' not in sys.modules, 'pyarrow imported'")
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_unknown_oracle_and_list_answer_without_torch(tmp_path):
    result = python(NO_TORCH.format(body=f"from pipeline import score; code = score.main(['--models', 'resnet5', "
                                         f"'--out', '{tmp_path}'])") + "; sys.exit(code)")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().count("\n") == 0
    assert "unknown oracle name(s) 'resnet5'; did you mean resnet50" in result.stderr
    assert "python -m pipeline.score --list shows the zoo" in result.stderr
    listing = python(NO_TORCH.format(body="from pipeline import score; score.main(['--list'])"))
    assert listing.returncode == 0, listing.stderr
    lite0 = next(line for line in listing.stdout.splitlines() if line.startswith("efficientnet_lite0 "))
    assert "present:" in lite0
    resnet = next(line for line in listing.stdout.splitlines() if line.startswith("resnet50 "))
    assert "present:" in resnet or "missing" in resnet and "resnet50-11ad3fa6.pth" in resnet


def test_missing_weights_name_the_ways_out(tmp_path, capsys):
    from pipeline import generate, score

    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(load_photo("chelsea", (64, 48))).save(folder / "chelsea.png")
    assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(tmp_path / "out"), "--workers",
                          "1", "--distortions", "contrast"]) == 0
    capsys.readouterr()
    code = score.main(["--models", "resnet18", "--out", str(tmp_path / "out"), "--offline",
                       "--weights-dir", str(tmp_path / "weights")])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT
    assert "resnet18-f37072fd.pth" in err and "--weights-dir" in err and "--untrained" in err


def test_an_unwritable_out_is_one_line_and_writes_nothing(tmp_path, capsys):
    from pipeline import generate

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = generate.main(["--subset", "cls", "--out", str(blocker / "out"), "--workers", "1", "--limit", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_ENVIRONMENT
    assert err[-1].startswith("error: cannot write to") and "Traceback" not in "\n".join(err)


def test_an_unreachable_scheduler_fails_before_anything_is_written(tmp_path):
    import miqd

    out = tmp_path / "out"
    started = time.perf_counter()
    with pytest.raises(EnvironmentProblem, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        from pipeline.generate import GenerateRequest, generate

        generate(GenerateRequest(out=out, limit=1), Execution(scheduler="tcp://127.0.0.1:9", connect_timeout=2))
    assert time.perf_counter() - started < 30
    assert not out.exists()
    assert miqd.UsageError is not None


def _default_sigint() -> None:
    """The child starts as from a terminal: a test run started in the background (``make test &``) inherits
    SIGINT ignored, and Python keeps an ignored SIGINT ignored (as it should for nohup)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    # enough work after the first commit (8 one-source shards of 256x192) that Ctrl-C lands mid-run on a fast machine
    for name in ("astronaut", "coffee", "rocket", "chelsea"):
        for flip in (False, True):
            photo = load_photo(name, (256, 192))
            Image.fromarray(photo[:, ::-1] if flip else photo).save(folder / f"{name}{'_flipped' * flip}.png")
    args = ["--subset", "cls", "--source", str(folder), "--distortions", "contrast,pixelate,gaussian_noise",
            "--shard-size", "1", "--workers", "1"]
    process = subprocess.Popen([sys.executable, "-m", "pipeline.generate", *args, "--out", str(tmp_path / "cut")],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=_default_sigint)
    commits = tmp_path / "cut" / "miqa_cls" / "manifests" / "sources"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(commits.glob("*.parquet")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole process group
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert len(list(commits.glob("*.parquet"))) < 8, "the run finished before Ctrl-C: nothing was interrupted"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted:")
    from pipeline import generate

    assert generate.main([*args, "--out", str(tmp_path / "cut")]) == 0
    assert generate.main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert tree_digest(tmp_path / "cut") == tree_digest(tmp_path / "whole")


def test_the_python_api_mirrors_the_command_line(tmp_path):
    import miqd

    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(load_photo("coffee", (64, 48))).save(folder / "coffee.png")
    report = miqd.generate(tmp_path / "out", "cls", source=str(folder), distortions="contrast", workers=1,
                           progress=False)
    assert report.exit_code == 0 and report.result.items_ok == 25
    assert any("sources: 1 done" in line for line in miqd.status(tmp_path / "out"))
    with pytest.raises(miqd.UsageError, match="unknown option"):
        miqd.generate(tmp_path / "out", "cls", colour="blue")
    with pytest.raises(miqd.UsageError, match="unknown distortion"):
        miqd.generate(tmp_path / "out", "cls", distortions="nope")
