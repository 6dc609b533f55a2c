"""Config: presets load, round-trip, overrides, and bad input caught before anything runs."""

import pytest
import yaml

from gankit import config as configs
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.presets import load_preset, preset_names, preset_table

EXPECTED_PRESETS = {
    "lsgan-mnist", "dcgan-mnist-tf", "gan-1d", "gan-mlp-mnist", "dcgan-mnist-keras", "wgan-grid25",
    "wgan-grid25-noclip", "gan-grid25", "coulomb-grid25", "wgan-gp-grid25", "dcgan64-folder",
}


def test_every_preset_of_the_issue_exists_and_names_its_post():
    assert EXPECTED_PRESETS <= set(preset_names())
    table = {row["name"]: row for row in preset_table()}
    assert table["lsgan-mnist"]["post"].startswith("000_")
    assert table["gan-1d"]["post"].startswith("002_")
    assert table["wgan-grid25"]["data"] == "grid25"
    assert all(row["description"] for row in table.values())


def test_every_preset_file_names_itself():
    # a preset without `name:` would train as "run" (runs/run, titles, reports): caught here, not by a user
    assert {name: resolve_config(name).name for name in preset_names()} == {name: name for name in preset_names()}


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_preset_resolves_and_round_trips(name):
    cfg = resolve_config(name)
    text = cfg.to_yaml()
    again = configs.from_dict(yaml.safe_load(text))
    assert again == cfg
    # every default is written out: the resolved generator section lists the architecture's settings
    assert len(cfg.generator) > 1 and "init" in cfg.generator


def test_overrides_parse_numbers_lists_and_nested_keys():
    cfg = resolve_config("wgan-grid25", ["optim.d.lr=1e-3", "optim.g.betas=[0.0, 0.9]", "reg.clip=0.01",
                                          "train.epochs=2", "data.std=0.1"])
    assert cfg.optim["d"]["lr"] == pytest.approx(1e-3)
    assert cfg.optim["g"]["betas"] == (0.0, 0.9)
    assert cfg.reg == {"clip": {"value": 0.01}} and cfg.train.epochs == 2 and cfg.data["std"] == 0.1


def test_integer_where_float_expected_is_accepted_but_text_is_not():
    assert resolve_config("gan-1d", ["optim.d.lr=1"]).optim["d"]["lr"] == 1.0
    with pytest.raises(ConfigError, match="must be a number"):
        resolve_config("gan-1d", ["optim.d.lr=fast"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batchsize=3", "did you mean 'train.batch_size'"),
        ("trian.steps=3", "did you mean 'train'"),
        ("loss.name=wasserstien", "did you mean 'wasserstein'"),
        ("data.name=mnsit", "did you mean 'mnist'"),
        ("generator.name=lsgna", "did you mean 'lsgan'"),
        ("optim.d.name=adma", "did you mean 'adam'"),
        ("optim.d.lrr=0.1", "did you mean 'lr'"),
        ("train.batch_size=0", "at least 1"),
        ("optim.d.lr=0", "lr"),
        ("optim.g.lr=-1e-4", "lr"),
        ("reg.clip=0", "reg.clip must be > 0"),
        ("reg.clip=-0.1", "reg.clip must be > 0"),
        ("train.d_steps=0", "train.d_steps must be at least 1"),
        ("train.d_input=everything", "valid choices: moments, sample, sorted"),
        ("runtime.device=tpu", "runtime.device"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve_config("wgan-grid25", [override])
    assert "\n" not in str(err.value)


def test_clipping_and_gradient_penalty_together_are_refused():
    with pytest.raises(ConfigError, match="use one"):
        resolve_config("wgan-grid25", ["reg.gp=10"])


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'wgan-grid25'"):
        load_preset("wgan-grid52")


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        resolve_config(str(path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {batch_size: 3\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_config(str(bad))


def test_set_without_equals_sign_is_a_usage_error():
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config("gan-1d", ["train.steps"])


def test_presets_command_lists_name_post_data_and_a_line(capsys):
    from gankit.cli import main

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(preset_names()) + 1  # a header, then one line per preset
    line = next(row for row in lines if row.startswith("lsgan-mnist "))
    assert "000_943dc553c0dab529.txt" in line and "mnist" in line and "LSGAN" in line
    assert "(beyond the posts)" in next(row for row in lines if row.startswith("wgan-gp-grid25 "))


def test_a_config_written_before_penalties_were_parts_still_loads():
    from gankit.config import from_dict

    old = resolve_config("wgan-grid25").to_dict()
    old.pop("augment")
    old["reg"] = {"clip": 0.01, "gp": 0.0, "gp_center": 1.0, "spectral_norm": False}  # gankit 0.1's reg section
    assert from_dict(old).reg == {"clip": {"value": 0.01}}
    old["reg"] = {"clip": None, "gp": 10.0, "gp_center": 0.0, "spectral_norm": True}
    assert from_dict(old).reg == {"gp": {"weight": 10.0, "center": 0.0, "every": 1}, "spectral-norm": {"on": True}}
    assert from_dict(old).augment == {"name": "none"}


@pytest.mark.parametrize("sets, message", [
    (["reg.gp=10"], "reg.clip and reg.gp both constrain the critic"),
    (["reg.r1.every=0"], "reg.r1.every must be at least 1"),
    (["reg.nope=1"], "penalty 'nope'"),
    (["augment.name=difaugment"], "did you mean 'diffaugment'"),
])
def test_penalty_and_augment_settings_fail_in_one_line(sets, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve_config("wgan-grid25", sets)
    assert "\n" not in str(err.value)
