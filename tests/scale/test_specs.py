"""Sweep specs (`gankit sweep --spec NAME`): the shipped post004 spec is post 004's table, every trial's config
validates, a bad name is one line, and a tiny run of it trains every trial and compares them with their labels."""

import json

import pytest

from gankit.cli import main
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.scale import specs, sweep

# post 004's tables: (lr for G and D, Keras decay for G and D, n_critic, clip); None = clipping removed
POST004 = [(1e-4, 1e-4, 1, 0.1), (1e-4, 1e-4, 1, 0.01), (1e-2, 1e-4, 1, 0.01), (1e-2, 1e-4, 1, 0.1),
           (1e-3, 1e-4, 1, 0.1), (1e-3, 1e-4, 5, 0.1), (1e-4, 1e-5, 1, 0.1), (1e-4, 1e-5, 1, None)]
# A toy run in seconds, every trial on the eager step (the spec's compiled step compiles for ~10 s a trial)
TINY = ["data.points_per_mode=40", "train.batch_size=64", "train.steps=4", "log.every=2", "log.eval_every=2",
        "log.sample_every=4", "log.checkpoint_every=4", "generator.hidden=16", "discriminator.hidden=16",
        "runtime.compile=false"]


def _build(overrides=(), seeds=1):
    spec = specs.load_spec("post004")
    return spec, sweep.build(spec.preset, [*spec.overrides, *overrides], [], [], 0, seeds, None,
                             listed=[(t.name, t.overrides) for t in spec.trials])


def test_post004_lists_the_posts_settings_and_every_trial_validates():
    assert "post004" in specs.spec_names()
    spec, built = _build()
    assert spec.preset == "wgan-grid25" and spec.out == "sweeps/post004" and len(built.configs) == 8
    for cfg, (lr, decay, n_critic, clip) in zip(built.configs, POST004):
        for player in ("g", "d"):
            assert cfg.optim[player]["lr"] == lr and cfg.optim[player]["decay"] == decay
            assert cfg.optim[player]["betas"][0] == 0.5
        assert cfg.train.batch_size == 512 and cfg.train.d_steps == n_critic
        assert (cfg.reg["clip"]["value"] if clip is not None else cfg.reg) == (clip if clip is not None else {})
    # The half-success and the run without clipping are the presets wgan-grid25 and wgan-grid25-noclip as they are
    for cfg, preset in zip(built.configs[6:], ("wgan-grid25", "wgan-grid25-noclip")):
        alone = resolve_config(preset)
        assert (cfg.optim, cfg.reg, cfg.train.d_steps, cfg.generator, cfg.loss) == (
            alone.optim, alone.reg, alone.train.d_steps, alone.generator, alone.loss)
    labels = [t.label for t in spec.trials]
    assert labels[:5] == ["failed"] * 5 and "off the screen" in labels[5] and "half-success" in labels[6]
    assert spec.metrics == ("modes_pacgan", "high_quality", "reverse_kl")
    # Seeds repeat every trial under its name
    _, seeded = _build(seeds=2)
    assert [t.name for t in seeded.trials[:2]] == [f"{spec.trials[0].name},seed=0", f"{spec.trials[0].name},seed=1"]


@pytest.mark.parametrize("args, says", [
    (["--spec", "post04"], "unknown sweep spec 'post04': did you mean 'post004'? valid choices: post004"),
    (["--spec", "post004", "--grid", "reg.clip=0.1,0.2"], "--spec post004 lists its own trials"),
    (["--spec", "post004", "--preset", "wgan-grid25"], "not allowed with argument"),
])
def test_a_bad_spec_command_is_one_line_exit_2_and_writes_nothing(args, says, tmp_path, capsys):
    try:
        code = main(["sweep", *args, "--out", str(tmp_path / "sw")])
    except SystemExit as stop:  # argparse's own usage errors (one line, exit 2 too)
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "sw").exists()


def test_a_malformed_spec_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(specs, "_folder", lambda: tmp_path)
    (tmp_path / "bad.yaml").write_text("name: bad\npreset: wgan-grid25\ntrials: [{name: a, set: [lr]}]\n")
    with pytest.raises(ConfigError, match="list of 'key=value' texts"):
        specs.load_spec("bad")
    (tmp_path / "bad.yaml").write_text("name: bad\npreset: wgan-grid25\ntrails: []\n")
    with pytest.raises(ConfigError, match="unknown key 'trails'"):
        specs.load_spec("bad")


def test_a_tiny_run_of_post004_trains_every_trial_and_compares_them_with_the_posts_outcome(tmp_path, capsys):
    out = tmp_path / "p4"
    code = main(["sweep", "--spec", "post004", "--out", str(out), "--stop-on", "none",
                 *[a for s in TINY for a in ("--set", s)]])
    assert code == 0
    printed = capsys.readouterr().out
    spec = specs.load_spec("post004")
    dirs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert dirs == sorted(t.name for t in spec.trials)
    for trial in spec.trials:
        metrics = json.loads((out / trial.name / "metrics.json").read_text())
        assert metrics["step"] == 4 and metrics["verdict"]
    assert "trained one after another" not in printed and "stacked" not in printed  # the spec says ensemble: false
    header = next(line for line in printed.splitlines() if line.startswith("run "))
    for column in ("modes (higher better)", "modes_pacgan", "high_quality", "reverse_kl", "verdict", "the post",
                   "train.d_steps"):
        assert column in header
    row = next(line for line in printed.splitlines() if line.startswith("6-lr1e-3"))
    assert row.endswith("failed: G's distribution moved off the screen")
    page = (out / "compare.html").read_text()
    assert all(t.name in page for t in spec.trials) and "the post" in page and "half-success" in page
    # The same command again trains nothing
    assert main(["sweep", "--spec", "post004", "--out", str(out), "--stop-on", "none",
                 *[a for s in TINY for a in ("--set", s)]]) == 0
    assert "0 to train (0 to resume), 8 finished before" in capsys.readouterr().out
