"""The notebook screenshot of docs/explain.md: a short notebook run in a real Jupyter
kernel, exported as JupyterLab shows it, and photographed by headless Chromium.

    python tools/notebook_screenshot.py            # writes docs/images/notebook_explain.png
    python tools/notebook_screenshot.py --keep nb  # also keeps nb.ipynb and nb.html

The cells are below (CELLS): the default example's derivation in Chinese as the
interactive page (`_repr_html_`), the graph of a small expression after `backward()`
(`_repr_svg_`) and the model's `summary()` (an HTML table). Nothing in the picture is
drawn by this script: the kernel's outputs are what chainrule displays, nbconvert's "lab"
template lays them out as JupyterLab does, and Chromium renders the page. Needs the
`docs` extra (nbconvert), the `test` extra (nbclient, ipykernel) and a `chromium` binary.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "notebook_explain.png"
WIDTH, HEIGHT = 1100, 1500  # CSS pixels: the report's first steps, the graph, the summary

CELLS = [
    "import chainrule as cr\n"
    "from chainrule.explainer import default_example\n"
    "\n"
    "model, x, y = default_example()\n"
    "cr.explain(model, x, y, lang='zh')",
    "a = cr.tensor(2.0, requires_grad=True)\n"
    "b = cr.tensor(-3.0, requires_grad=True)\n"
    "L = (a * b + a) * 2\n"
    "L.backward()\n"
    "cr.viz.draw_graph(L)",
    "model.summary(x)",
]


def notebook() -> object:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def run(nb: object, cwd: Path) -> None:
    """Execute every cell in a fresh kernel that imports this checkout's chainrule."""
    sys.path.insert(0, str(ROOT / "tests"))
    from notebooks import execute  # the tests' runner: src/ first on the kernel's path

    execute(nb, cwd=cwd)


def to_html(nb: object) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return body


def photograph(page: Path, out: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("notebook_screenshot: needs chromium on the PATH")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}",
                    f"--screenshot={tmp}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    tmp.replace(out)  # atomic: a failed run leaves the old picture


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--keep", type=Path, help="also write this .ipynb and .html (a stem)")
    args = p.parse_args(argv)
    nb = notebook()
    with tempfile.TemporaryDirectory() as tmp:
        run(nb, Path(tmp))
        page = Path(tmp) / "notebook.html"
        page.write_text(to_html(nb), encoding="utf-8")
        photograph(page, args.out)
        if args.keep:
            import nbformat

            nbformat.write(nb, str(args.keep.with_suffix(".ipynb")))
            shutil.copy(page, args.keep.with_suffix(".html"))
    print(f"notebook_screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
