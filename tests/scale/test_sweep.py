"""gankit sweep: every combination as a run directory, the comparison, resume, early stops, the Ray back end."""

import json
import math

import pytest

import gankit
from gankit.cli import main
from gankit.scale import sweep

# A toy sweep in seconds: 1,000 points, narrow MLPs, 20 steps, an eval row every 10 (so --stop-on can act).
SMALL = ["data.points_per_mode=40", "train.batch_size=64", "train.steps=20", "log.every=10", "log.eval_every=10",
         "log.sample_every=20", "log.checkpoint_every=10", "generator.hidden=32", "discriminator.hidden=32"]
SETS = [a for s in SMALL for a in ("--set", s)]


def _mtimes(out):
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "compare.html"}


def test_grid_x_seeds_trains_every_combination_compares_and_resumes(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "--preset", "wgan-grid25", "--grid", "optim.d.lr=1e-4,1e-3", "--grid", "reg.clip=0.01,0.1",
            "--seeds", "2", "--out", str(out), *SETS]
    # One trial half-trained before the sweep runs (as an interrupted sweep leaves it): it must resume.
    built = sweep.build("wgan-grid25", SMALL, sweep.parse_grid([args[4], args[6]]), [], 0, 2, out)
    sweep.claim(built)
    half = built.dirs()[3]
    gankit.train(built.configs[3], out=half, progress=False, stop_at=10)
    assert sweep.status(half, built.configs[3]) == "partial"
    capsys.readouterr()

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "8 trials" in printed and "8 to train (1 to resume), 0 finished before" in printed
    assert f"resuming {half} from step 10" in printed
    dirs = sorted(p for p in out.iterdir() if p.is_dir())
    assert [d.name for d in dirs] == sorted(t.name for t in built.trials)
    assert "optim.d.lr=1e-4,reg.clip=0.01,seed=1" in [d.name for d in dirs]
    for d in dirs:
        metrics = json.loads((d / "metrics.json").read_text())
        assert metrics["verdict"] in gankit.metrics.diagnosis.VERDICTS
        assert sweep.status(d, gankit.load_run(d).config) == "finished"
        assert d.name in printed  # a row of the table
    resumed = [r["step"] for r in gankit.load_run(half).history if "loss_d" in r]
    assert resumed == sorted(set(resumed)) and resumed[0] == 10  # continued, not restarted
    # The table: the differing settings as columns, the headline, the verdicts; the page beside it.
    header = next(line for line in printed.splitlines() if line.startswith("run "))
    for column in ("optim.d.lr", "reg.clip", "seed", "modes (higher better)", "verdict"):
        assert column in header
    page = (out / "compare.html").read_text()
    assert all(d.name in page for d in dirs)
    assert json.loads((out / "sweep.json").read_text())["trials"][0]["set"] == [
        "optim.d.lr=1e-4", "reg.clip=0.01", "seed=0"]

    # The same command again trains nothing: every file is left as it was.
    before = _mtimes(out)
    assert main(args) == 0
    assert "0 to train (0 to resume), 8 finished before" in capsys.readouterr().out
    assert _mtimes(out) == before


def test_one_after_another_stops_a_collapsed_trial_after_half_its_length(tmp_path, capsys):
    """A generator that cannot move (lr 1e-12) sits on one mode: --stop-on stops it at half of its length,
    cleanly (checkpoint, verdict); the healthy trial trains to the end. Trained one after another."""
    out = tmp_path / "sw"
    code = main(["sweep", "--preset", "wgan-grid25", "--grid", "optim.g.lr=2e-3,1e-12", "--set", "optim.d.lr=1e-3",
                 "--no-ensemble", "--out", str(out), *SETS])
    assert code == 0
    frozen = json.loads((out / "optim.g.lr=1e-12,seed=0" / "metrics.json").read_text())
    assert frozen["verdict"] == "mode collapse" and frozen["step"] == 10
    assert frozen["stopped_early"].startswith("mode collapse at 50% of training")
    assert gankit.load_run(out / "optim.g.lr=1e-12,seed=0").step == 10  # its checkpoint is where it stopped
    healthy = json.loads((out / "optim.g.lr=2e-3,seed=0" / "metrics.json").read_text())
    assert healthy["step"] == 20 and "stopped_early" not in healthy


def test_random_points_are_drawn_reproducibly_within_their_ranges():
    ranges = [sweep.parse_range("optim.d.lr=1e-5:1e-2:log"), sweep.parse_range("reg.clip=0.01:0.1")]
    trials = sweep.plan([("train.d_steps", ["1", "5"])], ranges, 4, 2, random_seed=3)
    assert len(trials) == 2 * 4 * 2
    assert trials == sweep.plan([("train.d_steps", ["1", "5"])], ranges, 4, 2, random_seed=3)
    assert trials != sweep.plan([("train.d_steps", ["1", "5"])], ranges, 4, 2, random_seed=4)
    lrs = [float(o.split("=")[1]) for t in trials for o in t.overrides if o.startswith("optim.d.lr=")]
    assert all(1e-5 <= v <= 1e-2 for v in lrs)
    assert len({round(math.log10(v)) for v in lrs}) > 1  # log scale: spread over decades, not all near 1e-2
    assert len({t.name for t in trials}) == len(trials)
    assert trials[0].name == f"train.d_steps=1,optim.d.lr={lrs[0]!r},reg.clip={trials[0].overrides[2].split('=')[1]},seed=0"


def test_trial_names_are_safe_directory_names():
    name = sweep.trial_name([("data.path", "/a b/../c"), ("optim.g.betas", "[0.5,0.9]")])
    assert "/" not in name and " " not in name
    assert sweep.parse_grid(["optim.g.betas=[0.5,0.9],[0.9,0.99]"]) == [("optim.g.betas", ["[0.5,0.9]", "[0.9,0.99]"])]


def test_backend_ray_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if Ray were not installed
    code = main(["sweep", "--preset", "wgan-grid25", "--backend", "ray", "--out", str(tmp_path / "sw")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "gankit: error: --backend ray needs Ray: pip install gankit[ray]"
    assert not (tmp_path / "sw").exists()


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install gankit[ray]; CI installs it)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_backend_runs_trials_and_stops_a_collapsed_one(ray_session, tmp_path, capsys):
    """Three Tune trials on a local Ray instance: two train to their full length, the frozen generator's is
    stopped by the diagnosis at half its length with the verdict in its run directory and in Tune's record."""
    out = tmp_path / "sw"
    code = main(["sweep", "--preset", "wgan-grid25", "--backend", "ray", "--grid", "optim.g.lr=2e-3,3e-3,1e-12",
                 "--set", "optim.d.lr=1e-3", "--out", str(out), *SETS])
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("optim.g.lr=2e-3,seed=0", "optim.g.lr=3e-3,seed=0"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert metrics["step"] == 20 and "stopped_early" not in metrics and name in printed
    frozen = json.loads((out / "optim.g.lr=1e-12,seed=0" / "metrics.json").read_text())
    assert frozen["verdict"] == "mode collapse" and frozen["step"] == 10 and frozen["stopped_early"]
    # What Tune saw: every eval row reported with the verdict so far, then the final result, stopped.
    reports = [json.loads(line) for path in (out / "ray").rglob("result.json") for line in path.read_text().splitlines()]
    by_step = {(r["step"], r["verdict"], r.get("stopped_early")) for r in reports}
    assert (10, "mode collapse", True) in by_step
    assert any(r["step"] == 20 and r["verdict"] != "mode collapse" for r in reports)
    assert any(r.get("done") and r.get("stopped_early") for r in reports)


def test_workers_never_outnumber_the_cores_and_share_them():
    from gankit.scale.trials import share_cores

    workers, threads, note = share_cores(1000, trials=40, cores=2)  # 1000 torch processes would exhaust memory
    assert (workers, threads) == (2, 1) and "more than the 2 cores" in note and "2 trials at a time" in note
    assert share_cores(2, trials=5, cores=8) == (2, 4, None)  # the cores split between the workers
    assert share_cores(8, trials=3, cores=8) == (3, 2, None)  # no idle worker for a trial that is not there
    assert share_cores(4, trials=3, cores=2)[:2] == (2, 1)
    assert share_cores(3, trials=1, cores=2) == (1, 2, None)  # one trial: trained in this process


def test_trials_that_alone_would_compile_are_not_stacked_on_the_cpu(tmp_path, monkeypatch, capsys):
    import shutil

    from gankit.config import resolve_config
    from gankit.scale.trials import StopOn, train_group
    from gankit.training import capability
    from gankit.training.trainer import Trainer

    def pays(*overrides: str) -> bool:
        cfg = resolve_config("wgan-grid25", ["log.eval_every=0", *overrides])
        return capability.stacking_pays(Trainer(cfg, tmp_path / "t", progress=False, path="ensemble"))[0]

    if shutil.which("g++") or shutil.which("c++") or shutil.which("clang++"):
        assert pays() is False  # 195,000 steps: alone, the compiled step (~2x faster a trial than stacked)
    assert pays("train.steps=100") is True  # a short run trains eagerly alone: stacking pays
    assert pays("runtime.compile=false") is True
    # a sweep's stackable trials that should not stack train one after another, each its own run
    monkeypatch.setattr(capability, "stacking_pays", lambda trainer: (False, "alone each trains faster"))
    cfgs = [resolve_config("wgan-grid25", [*SMALL, f"optim.d.lr={lr}"]).to_dict() for lr in (1e-4, 1e-3)]
    train_group(cfgs, [str(tmp_path / "a"), str(tmp_path / "b")], StopOn(()))
    out = capsys.readouterr().out
    assert "training these 2 trials one after another: alone each trains faster" in out
    assert "[1/2] a" in out and "[2/2] b" in out
    assert gankit.load_run(tmp_path / "b").step == 20
