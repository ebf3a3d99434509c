"""benchmarks/makemore.py: its PyTorch twins compute what the zoo computes (the weights
copied by name), its shared pieces, and its --quick mode end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.train.language import next_token_loss
from chainrule.train.zoo import MODELS, logits_of, make_model

torch = pytest.importorskip("torch", reason="PyTorch is the oracle; install the test extra")
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import makemore  # noqa: E402
import makemore_torch  # noqa: E402

SMALL = {"n_layer": 2, "n_head": 2, "n_embd": 8, "n_embd2": 12}
GPT_OPTIONS = [{}, {"bias": False, "norm": "rmsnorm", "activation": "relu"}]


def pair(kind: str, seed: int = 0, **gpt):
    """A chainrule zoo model in float64 with drawn weights, and its PyTorch twin loaded
    from chainrule's state_dict by name (strict)."""
    chainrule.manual_seed(seed)
    if gpt:
        ours = chainrule.nn.GPT(7, 6, SMALL["n_layer"], SMALL["n_head"], SMALL["n_embd"],
                                **gpt).double()
    else:
        ours = make_model(kind, 7, 6, **SMALL).double()
    rng = np.random.default_rng(seed)
    for p in ours.parameters():  # the bigram's table and the start state begin at zero
        p.data[...] = rng.normal(size=p.shape) * 0.5
    theirs = makemore_torch.make_model(kind, 7, 6, **SMALL, **gpt).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("kind", MODELS)
def test_the_torch_twin_has_the_same_parameters_forward_and_gradients(kind):
    ours, theirs = pair(kind)
    assert dict(theirs.named_parameters()).keys() == ours.state_dict().keys()
    ids = np.random.default_rng(1).integers(0, 7, (3, 6))
    targets = np.random.default_rng(2).integers(-1, 7, (3, 6))  # some padding (-1)
    np.testing.assert_allclose(logits_of(ours, ids).data,
                               theirs(torch.from_numpy(ids)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    loss = next_token_loss(ours, ids, targets)
    loss.backward()
    logits = theirs(torch.from_numpy(ids))
    peer = torch.nn.functional.cross_entropy(logits.reshape(-1, 7),
                                             torch.from_numpy(targets).reshape(-1),
                                             ignore_index=-1)
    peer.backward()
    assert float(loss.data) == pytest.approx(peer.item(), rel=1e-12)
    grads = {name: p.grad.numpy() for name, p in theirs.named_parameters()}
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(np.asarray(p.grad.data), grads[name], rtol=1e-8,
                                   atol=1e-11, err_msg=f"{kind}: {name}")


@pytest.mark.parametrize("gpt", GPT_OPTIONS[1:])
def test_the_microgpt_options_match_too(gpt):
    ours, theirs = pair("transformer", **gpt)
    ids = np.random.default_rng(3).integers(0, 7, (2, 6))
    np.testing.assert_allclose(logits_of(ours, ids).data,
                               theirs(torch.from_numpy(ids)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_score_is_nats_per_character_over_the_targets():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))
    y = np.array([[0, -1]])
    assert makemore.score(lambda x: logits[: len(x)], np.zeros((1, 2)), y) == \
        pytest.approx(np.log(2))
    y = np.array([[1, 1]])
    assert makemore.score(lambda x: logits[: len(x)], np.zeros((1, 2)), y) == \
        pytest.approx((np.log(4) - np.log(0.8)) / 2)


def test_microgpts_learning_rate_decays_linearly_to_zero():
    spec = {"optimizer": {"lr": 0.01}, "steps": 1000, "decay": "linear"}
    rates = [makemore.learning_rate(spec, s) for s in (1, 501, 1000)]
    assert rates == pytest.approx([0.01, 0.005, 1e-5])
    assert makemore.learning_rate({**spec, "decay": "none"}, 1000) == 0.01


def test_a_run_by_the_other_framework_joins_the_stored_one():
    ours = {"kind": "transformer", "steps": 5, "machine": "A", "turn": 100,
            "results": {"chainrule": {"curve": [[0, 3.0]]}}}
    theirs = {**ours, "machine": "B", "results": {"torch": {"curve": [[0, 3.1]]}}}
    joined = makemore.merge({"long": ours, "bow": ours}, {"long": theirs})
    assert set(joined["long"]["results"]) == {"chainrule", "torch"}
    assert joined["long"]["machine"] == "A and B" and "turn" not in joined["long"]
    assert joined["bow"] is ours
    longer = {**theirs, "steps": 6}  # other settings: the new run replaces the stored one
    assert makemore.merge({"long": ours}, {"long": longer})["long"] is longer
    assert makemore.merge({"long": ours}, {"long": ours})["long"] is ours  # a rerun replaces


def test_quick_mode_trains_both_frameworks_to_the_same_losses(tmp_path):
    names = tmp_path / "names.txt"
    rng = np.random.default_rng(0)
    names.write_text("\n".join("".join(rng.choice(list("abcdef"), rng.integers(2, 7)))
                               for _ in range(300)) + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(chainrule.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(BENCHMARKS / "makemore.py"), "--quick",
                             "--models", "transformer", "--microgpt-steps", "0", "--data",
                             str(names)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| transformer"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ours, theirs, difference = float(cells[3]), float(cells[4]), float(cells[5])
    assert 1.0 < ours < np.log(7) + 0.5  # trained a little from about log(vocabulary size)
    assert abs(ours - theirs) < 1e-3 and abs(difference) < 1e-3
    assert "270 training and 30 test names" in result.stdout  # makemore's 10% split
