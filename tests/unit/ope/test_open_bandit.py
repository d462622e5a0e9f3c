"""The Open Bandit loader on a hand-made log and on the shared sample; the bts experiment runs."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import orjson
import pytest
import typer
from typer.testing import CliRunner

from ltrr.cli import ope as ope_cli
from ltrr.ope.estimators import ESTIMATORS, OpeError, OpeParams
from ltrr.ope.open_bandit import (
    CAMPAIGNS,
    POLICIES,
    action_dist_of,
    bts_from_random,
    load_obd,
)

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
OBD = DATASETS / "open-bandit-dataset-small"
needs_shared = pytest.mark.skipif(
    not OBD.is_dir(), reason=f"the Open Bandit sample is not at {OBD} (../shared is absent)"
)
#: (rows, items, clicks) of each sample, from the dataset's PROVENANCE.md.
SAMPLES = {
    ("random", "all"): (10_000, 80, 38),
    ("random", "men"): (10_000, 34, 46),
    ("random", "women"): (10_000, 46, 46),
    ("bts", "all"): (10_000, 80, 42),
    ("bts", "men"): (10_000, 34, 69),
    ("bts", "women"): (10_000, 46, 46),
}
HEADER = (
    ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,"
    "user-item_affinity_0,user-item_affinity_1,user-item_affinity_2\n"
)


def _write_log(root: Path, policy: str, rows: list[str], gz: bool = True) -> None:
    folder = root / policy / "men"
    folder.mkdir(parents=True)
    text = HEADER + "".join(f"{i},2019-11-24 00:00:00+00:00,{r}\n" for i, r in enumerate(rows))
    if gz:
        (folder / "men.csv.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (folder / "men.csv").write_text(text)
    (folder / "item_context.csv").write_text(
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,aa\n1,1,0.25,bb\n2,2,1.0,aa\n"
    )


def _tiny(root: Path) -> None:
    _write_log(
        root,
        "random",
        [
            "0,1,0,0.3333,h1,g1,0.0,1.0,0.0",
            "2,2,1,0.3333,h2,g1,0.0,0.0,0.0",
            "1,1,1,0.3333,h1,g2,0.5,0.0,0.0",
            "1,2,0,0.3333,h2,g2,0.0,0.0,2.0",
        ],
    )
    _write_log(
        root,
        "bts",
        [
            "1,1,1,0.9,h1,g1,0.0,0.0,0.0",
            "1,2,0,0.8,h1,g1,0.0,0.0,0.0",
            "0,1,0,0.1,h1,g1,0.0,0.0,0.0",
            "2,2,1,0.2,h1,g1,0.0,0.0,0.0",
        ],
        gz=False,
    )


def test_loader_reads_a_hand_made_log(tmp_path: Path) -> None:
    _tiny(tmp_path)
    fb = load_obd(tmp_path, "random", "men")
    assert (fb.n_rounds, fb.n_actions, fb.len_list) == (4, 3, 2)
    assert fb.action.tolist() == [0, 2, 1, 1]
    assert fb.position.tolist() == [0, 1, 0, 1]
    assert fb.reward.tolist() == [0, 1, 1, 0]
    assert fb.pscore == pytest.approx([0.3333] * 4)
    # one-hot user_feature_0 (h1, h2), user_feature_1 (g1, g2), then three affinities
    assert fb.context.shape == (4, 7)
    assert fb.context[0].tolist() == [1, 0, 1, 0, 0.0, 1.0, 0.0]
    # item_feature_0 numeric, item_feature_1 one-hot (aa, bb)
    assert fb.action_context.tolist() == [[-0.5, 1, 0], [0.25, 0, 1], [1.0, 1, 0]]


def test_action_dist_from_frequencies_and_pscores(tmp_path: Path) -> None:
    _tiny(tmp_path)
    bts = load_obd(tmp_path, "bts", "men")
    freq = action_dist_of(bts, "frequency")
    # slot 1 showed items 1 and 0; slot 2 showed items 1 and 2
    assert freq.tolist() == [[0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
    by_pscore = action_dist_of(bts, "pscore")
    assert by_pscore[:, 0] == pytest.approx([0.1, 0.9, 0.0])
    assert by_pscore[:, 1] == pytest.approx([0.0, 0.8, 0.2])
    with pytest.raises(OpeError, match="never fills slot"):
        action_dist_of(bts, len_list=3)


def test_experiment_on_a_hand_made_log(tmp_path: Path) -> None:
    _tiny(tmp_path)
    report = bts_from_random(tmp_path, "men", OpeParams(n_bootstrap=50))
    # bts shows each random-logged (item, slot) half the time, random a third: every iw is
    # 0.5 / 0.3333; rewards [0, 1, 1, 0], so IPS = 2 iw / 4 and SNIPS = 2 / 4
    assert report["estimators"]["ips"]["value"] == pytest.approx(0.5 / 0.3333 * 2 / 4)
    assert report["estimators"]["snips"]["value"] == pytest.approx(0.5)
    assert report["estimators"]["ips"]["ess"] == pytest.approx(4.0)
    assert report["on_policy"]["bts"]["value"] == 0.5


@pytest.mark.parametrize(
    ("policy", "campaign", "message"),
    [
        ("greedy", "men", "unknown Open Bandit policy 'greedy'; allowed: random, bts"),
        ("random", "kids", "unknown Open Bandit campaign 'kids'; allowed: all, men, women"),
        ("random", "all", "no Open Bandit log at"),
    ],
)
def test_loader_names_bad_arguments(
    tmp_path: Path, policy: str, campaign: str, message: str
) -> None:
    _tiny(tmp_path)
    with pytest.raises(OpeError, match=message):
        load_obd(tmp_path, policy, campaign)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("5,1,0,0.3,h,g,0,0,0", r"item_id must be in \[0, 3\)"),
        ("1,0,0,0.3,h,g,0,0,0", "position must be >= 1"),
        ("x,1,0,0.3,h,g,0,0,0", "not numeric"),
    ],
)
def test_loader_names_bad_rows(tmp_path: Path, row: str, message: str) -> None:
    _write_log(tmp_path, "random", [row])
    with pytest.raises(OpeError, match=message):
        load_obd(tmp_path, "random", "men")


@needs_shared
@pytest.mark.parametrize(("policy", "campaign"), list(SAMPLES))
def test_loader_counts_on_the_sample(policy: str, campaign: str) -> None:
    n_rounds, n_actions, n_clicks = SAMPLES[(policy, campaign)]
    fb = load_obd(OBD, policy, campaign)
    assert (fb.n_rounds, fb.n_actions, fb.len_list) == (n_rounds, n_actions, 3)
    assert int(fb.reward.sum()) == n_clicks
    assert fb.action.shape == fb.position.shape == fb.pscore.shape == (n_rounds,)
    assert fb.context.shape[0] == n_rounds and fb.context.shape[1] > n_actions
    assert fb.action_context.shape[0] == n_actions
    assert ((fb.pscore > 0) & (fb.pscore <= 1)).all()
    if policy == "random":
        assert fb.pscore == pytest.approx(np.full(n_rounds, 1 / n_actions))


def test_policies_and_campaigns_are_named() -> None:
    assert POLICIES == ("random", "bts") and CAMPAIGNS == ("all", "men", "women")


@needs_shared
def test_bts_from_random_on_the_sample() -> None:
    report = bts_from_random(OBD, "all", OpeParams(n_bootstrap=300))
    assert report["on_policy"]["bts"]["value"] == pytest.approx(0.0042)
    assert report["n_rounds"] == {"random": 10_000, "bts": 10_000}
    for name in ESTIMATORS:
        e = report["estimators"][name]
        assert all(math.isfinite(e[k]) for k in ("value", "low", "high", "ess"))
        assert e["low"] <= e["value"] <= e["high"]
        assert 0 < e["ess"] <= 10_000
        assert math.isfinite(e["relative_error"])


@needs_shared
def test_cli_obd_prints_json() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    ope_cli.register(app)
    result = CliRunner().invoke(app, ["ope", "obd", str(OBD), "--campaign", "men", "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["campaign"] == "men" and set(report["estimators"]) == set(ESTIMATORS)
