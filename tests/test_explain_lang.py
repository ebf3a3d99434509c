"""The reports' languages (one message table each, English the default) and how they show in
a notebook: every language has English's keys and placeholders; a Chinese report carries
exactly the English report's numbers, in the words of the Chinese derivations; an unknown
language is refused in one line; every report displays as one self-contained <div> with
ids of its own, and as Markdown."""

from __future__ import annotations

import html
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.explainer import default_example, derive
from chainrule.explainer.attention import default_attention, derive_attention, render_attention
from chainrule.explainer.bptt import default_rnn, derive_bptt, render_bptt
from chainrule.explainer.check import check_backprop
from chainrule.explainer.conv import default_conv, derive_conv, render_conv
from chainrule.explainer.messages import LANGUAGES, Message, Words, table

LEARNERS = Path(__file__).parent / "learners"
# a number as the reports print them: 0.5, -0.7055, 1.9e-10, 2 (in "L2", "x_2", "(2, 2)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
UID = re.compile(r"crx-[0-9a-f]{12}")  # a report's random id (it differs between renders)
CJK = re.compile(r"[\u4e00-\u9fff]")
TERMS = ("前向传播", "反向传播", "误差项", "代价函数", "链式法则", "权重矩阵", "偏置", "正则项",
         "学习率", "梯度下降")


def fields(template: str) -> set[tuple[str, str]]:
    """The placeholders of a template with their number formats, e.g. {('loss', '.6f')}."""
    return {(name, spec) for _, name, spec, _ in string.Formatter().parse(template)
            if name is not None}


def numbers(text: str) -> Counter:
    """Every number of a report (in html, of its text: &#x27; is an apostrophe)."""
    return Counter(NUMBER.findall(html.unescape(UID.sub("", text))))


def test_every_language_has_englishs_keys_and_placeholders():
    english = table("en")
    assert LANGUAGES[0] == "en" and "zh" in LANGUAGES
    for lang in LANGUAGES:
        other = table(lang)
        assert set(other) == set(english), (lang, sorted(set(other) ^ set(english)))
        for key, template in english.items():
            assert fields(other[key]) == fields(template), (lang, key)
            if lang != "en" and template:  # translated (English's empty note excepted)
                assert other[key] != template or not re.search("[a-z]{3}", template), key


def _wrong_learner(tmp_path: Path) -> Path:
    """columns_tanh_sigmoid.py with the sigmoid's derivative under its tanh layer."""
    text = (LEARNERS / "columns_tanh_sigmoid.py").read_text()
    path = tmp_path / "wrong.py"
    path.write_text(text.replace("dZ1 = dA1 * (1 - A1 ** 2)", "dZ1 = dA1 * A1 * (1 - A1)"))
    return path


def _dropout_model():
    from chainrule.autograd.mode import no_grad

    model = nn.Sequential(nn.Linear(2, 3, dtype=np.float64), nn.Sigmoid(), nn.Dropout(0.5),
                          nn.Linear(3, 2, dtype=np.float64), nn.Softmax())
    rng = np.random.default_rng(0)  # the same weights every time: two renders compared
    with no_grad():
        for p in model.parameters():
            p.copy_(rng.normal(0.0, 0.5, p.shape))
    return model, np.array([[0.1, 0.2]]), [1]


# every explainer, written in a format and a language
REPORTS = {
    "default": lambda fmt, lang, tmp: cr.explain(*default_example(), format=fmt, lang=lang),
    "l2 per-example columns": lambda fmt, lang, tmp: cr.explain(
        *default_example("tanh", "sigmoid"), "mse", l2=0.1, l1=0.01, per_example=True, steps=3,
        columns=True, format=fmt, lang=lang),
    "raw scores": lambda fmt, lang, tmp: cr.explain(
        *default_example("leaky_relu", "identity"), nn.CrossEntropyLoss(), format=fmt, lang=lang),
    "dropout": lambda fmt, lang, tmp: cr.explain(*_dropout_model(), format=fmt, lang=lang),
    "rnn": lambda fmt, lang, tmp: render_bptt(derive_bptt(*default_rnn()), fmt, lang),
    "conv": lambda fmt, lang, tmp: render_conv(derive_conv(*default_conv()), fmt, lang),
    "attention": lambda fmt, lang, tmp: render_attention(
        derive_attention(*default_attention()), fmt, lang),
    "check": lambda fmt, lang, tmp: check_backprop(_wrong_learner(tmp), lang=lang).render(fmt),
    "check l2": lambda fmt, lang, tmp: check_backprop(LEARNERS / "columns_l2.py").render(
        fmt, lang),
}


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_chinese_carries_exactly_the_english_numbers(name, fmt, tmp_path):
    english, chinese = (REPORTS[name](fmt, lang, tmp_path) for lang in ("en", "zh"))
    assert numbers(chinese) == numbers(english)
    assert CJK.search(chinese) and not CJK.search(english)


def test_chinese_uses_the_terms_of_the_chinese_derivations():
    model, x, y = default_example()
    text = cr.explain(model, x, y, lang="zh")
    missing = [t for t in TERMS if t not in text]
    assert not missing, missing
    for notation in ("delta^(2)", "W^(1)", "A^(1)", "Z^(2)", "dW^(1)", "db^(2)", "dA^(1)"):
        assert notation in text  # the notation is not translated
    assert text.startswith("反向传播，逐步推导\n") and "✓ dW^(2) 与 autograd 一致" in text
    assert "时间反向传播" in render_bptt(derive_bptt(*default_rnn()), "text", "zh")
    # a note the derivation keeps (a Message) is written in the report's language
    dropped = cr.explain(*_dropout_model(), lang="zh")
    assert "Dropout 层被略去" in dropped and "left out" not in dropped
    assert "Dropout layers are left out" in " ".join(derive(*_dropout_model()).notes)


def test_a_message_is_english_text_that_other_languages_can_write():
    note = Message("mlp.example", k=3)
    assert note == "Example 3" and isinstance(note, str)
    assert Words("zh").text(note) == "样本 3" and Words("zh").text("as is") == "as is"
    assert Words("zh")("verdict.ok", name=Message("check_name.step_share", weight="W", t=2),
                       autograd=0.0, numeric=0.0).startswith("✓ dW（第 2 步） 与")


def test_the_default_language_is_english_and_the_reports_remember_theirs():
    model, x, y = default_example()
    report = cr.explain(model, x, y, lang="zh")
    assert cr.explain(model, x, y) == cr.explain(model, x, y, lang="en")
    assert report.lang == "zh" and report._repr_markdown_().startswith("# 反向传播")
    assert "第 1 层" in report._repr_html_() and "'第 {k} 步，共 {n} 步：{t}'" not in \
        report._repr_html_()
    assert '"at":"第 {k} 步，共 {n} 步：{t}"' in report._repr_html_()
    assert check_backprop(LEARNERS / "columns_l2.py", lang="zh")._repr_markdown_().startswith(
        "# chainrule check：columns_l2.py")


def test_an_unknown_language_is_refused_in_one_line(capsys):
    model, x, y = default_example()
    with pytest.raises(ValueError, match=r"explain: language must be one of en, zh, got 'xx'"):
        cr.explain(model, x, y, lang="xx")
    with pytest.raises(ValueError, match=r"check: language must be one of en, zh, got 'xx'"):
        check_backprop(LEARNERS / "columns_l2.py", lang="xx")
    with pytest.raises(ValueError, match=r"language must be one of en, zh, got 'fr'"):
        render_bptt(derive_bptt(*default_rnn()), "text", "fr")
    for argv in (["explain", "--lang", "xx"], ["explain", "--rnn", "--lang", "xx"],
                 ["check", str(LEARNERS / "columns_l2.py"), "--lang", "xx"]):
        assert main(argv) == 2
        out = capsys.readouterr()
        assert out.out == "" and out.err.count("\n") == 1 and "Traceback" not in out.err
        assert "invalid choice: 'xx' (choose from 'en', 'zh')" in out.err, out.err


def test_the_command_writes_chinese(capsys):
    assert main(["explain", "--attention", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("因果注意力头的反向传播") and "全部一致 ✓" in out
    assert main(["explain", "--lang", "zh", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# 反向传播，逐步推导")


# -- in a notebook ---------------------------------------------------------------------------


def _notebook_reports(tmp_path: Path) -> list:
    model, x, y = default_example()
    return [cr.explain(model, x, y), cr.explain(model, x, y), cr.explain(model, x, y, lang="zh"),
            derive(model, x, y), derive_bptt(*default_rnn()), derive_conv(*default_conv()),
            derive_attention(*default_attention()), check_backprop(_wrong_learner(tmp_path))]


def test_every_report_displays_in_a_notebook(tmp_path):
    from test_explain import assert_self_contained

    for report in _notebook_reports(tmp_path):
        cell, md = report._repr_html_(), report._repr_markdown_()
        name = type(report).__name__
        assert cell.startswith("<div class='cr") and cell.endswith("</div>"), name
        assert "<math" in cell and "<!DOCTYPE" not in cell and "<body" not in cell, name
        assert_self_contained(cell)
        assert md.startswith("# ") and "<" not in md.split("\n", 1)[0], name


def test_reports_in_one_notebook_share_no_id_and_no_global_handler(tmp_path):
    cells = [r._repr_html_() for r in _notebook_reports(tmp_path)]
    ids = [i for cell in cells for i in re.findall(r"\sid='([^']*)'", cell)]
    assert len(ids) == len(set(ids)) > len(cells)
    for cell in cells:  # every id of a report starts with its root's
        root, *others = re.findall(r"\sid='([^']*)'", cell)
        assert all(i.startswith(root + "-") for i in others)
        for script in re.findall(r"<script>(.*?)</script>", cell, re.S):
            assert script.endswith(f"('{root}',false);")  # embedded: not a standalone page
    # a standalone page (the html format) follows #step=N; the cells do not
    model, x, y = default_example()
    assert ",true);</script>" in cr.explain(model, x, y, format="html")


DOCS = Path(__file__).parent.parent / "docs"


def test_the_chinese_in_the_docs_is_what_the_commands_print(tmp_path, capsys):
    """docs/explain.md's excerpt is made of pieces of `chainrule explain --lang zh`, in
    order; docs/check.md's Chinese session is the report of its buggy file, in full."""
    doc = (DOCS / "explain.md").read_text()
    shown = doc.split("$ chainrule explain --lang zh\n", 1)[1].split("```", 1)[0]
    assert main(["explain", "--lang", "zh"]) == 0
    printed, at = capsys.readouterr().out, 0
    for piece in shown.split("...\n"):
        found = printed.find(piece, at)
        assert piece.strip() and found >= at, piece
        at = found + len(piece)
    doc = (DOCS / "check.md").read_text()
    (tmp_path / "two_layer.py").write_text(doc.split("```python\n", 1)[1].split("```", 1)[0])
    shown = doc.split("$ chainrule check two_layer.py --lang zh\n", 1)[1].split("```", 1)[0]
    report = check_backprop(tmp_path / "two_layer.py", lang="zh")
    assert str(report) == shown
