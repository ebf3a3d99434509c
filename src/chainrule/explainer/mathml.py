"""The LaTeX of the explainers' formulas as MathML, which browsers typeset natively (no
script library, nothing fetched).

It reads the subset the explainers write: letters, numbers and operators, ``^`` and ``_``
scripts, ``{...}`` groups, ``\\frac``, ``\\mathrm``/``\\text``/``\\mathbb``, Greek letters,
``\\left``/``\\right`` delimiters, ``bmatrix`` and a few symbols and spaces. A command it
does not know is an error, so a new formula cannot silently print as garbage (the tests
convert every formula the reports write).
"""

from __future__ import annotations

import html
import re

GREEK = {name: chr(code) for name, code in (
    ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3B5),
    ("eta", 0x3B7), ("theta", 0x3B8), ("lambda", 0x3BB), ("mu", 0x3BC), ("pi", 0x3C0),
    ("sigma", 0x3C3), ("tau", 0x3C4), ("phi", 0x3C6), ("Delta", 0x394), ("Sigma", 0x3A3))}
OPERATORS = {"odot": "⊙", "le": "≤", "ge": "≥", "cdot": "⋅", "times": "×", "lVert": "‖",
             "rVert": "‖", "sum": "∑", "to": "→", "leftarrow": "←", "partial": "∂",
             "approx": "≈", "ne": "≠", "star": "⋆", "ast": "∗", "circledast": "⊛"}
IDENTIFIERS = {"top": "⊤", "log": "log", "tanh": "tanh", "exp": "exp", "max": "max"}
SPACES = {"quad": "1em", ",": "0.17em", " ": "0.25em", ";": "0.28em", "qquad": "2em"}
TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\d+(?:\.\d+)?|\s+|.")


def _mi(text: str, normal: bool = False) -> str:
    variant = " mathvariant='normal'" if normal and len(text) == 1 else ""
    return f"<mi{variant}>{html.escape(text)}</mi>"


class _Parser:
    def __init__(self, latex: str) -> None:
        self.tokens = TOKEN.findall(latex)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("mathml: the formula ended early (a group or script is missing)")
        self.i += 1
        return token

    def raw_group(self) -> str:
        """The text of a {...} group as written (for \\text and \\mathrm)."""
        if self.take() != "{":
            raise ValueError("mathml: \\text, \\mathrm and \\mathbb need a {...} argument")
        depth, parts = 1, []
        while True:
            token = self.take()
            depth += {"{": 1, "}": -1}.get(token, 0)
            if depth == 0:
                return "".join(parts)
            parts.append(token)

    def sequence(self, stops: tuple[str, ...] = ()) -> list[str]:
        """Atoms with their scripts until one of ``stops`` (not consumed) or the end."""
        items: list[str] = []
        while self.peek() is not None and self.peek() not in stops:
            token = self.peek()
            if token.isspace():
                self.i += 1
            elif token in ("^", "_"):
                items.append(self.scripts(items.pop() if items else "<mrow></mrow>"))
            else:
                items.append(self.atom())
        return items

    def scripts(self, base: str) -> str:
        found: dict[str, str] = {}
        while self.peek() in ("^", "_") and self.peek() not in found:
            which = self.take()
            found[which] = self.argument()
        if len(found) == 2:
            return f"<msubsup>{base}{found['_']}{found['^']}</msubsup>"
        tag = "msup" if "^" in found else "msub"
        return f"<{tag}>{base}{next(iter(found.values()))}</{tag}>"

    def argument(self) -> str:
        while self.peek() is not None and self.peek().isspace():
            self.i += 1
        return self.atom()

    def atom(self) -> str:
        token = self.take()
        if token == "{":
            inner = self.sequence(("}",))
            self.take()
            return "<mrow>" + "".join(inner) + "</mrow>"
        if token.startswith("\\"):
            return self.command(token[1:])
        if token[0].isdigit():
            return f"<mn>{token}</mn>"
        if token.isalpha():
            return _mi(token)
        if token == "'":
            return "<mo>′</mo>"
        return f"<mo>{html.escape(token)}</mo>"

    def command(self, name: str) -> str:
        if name == "frac":
            return f"<mfrac>{self.argument()}{self.argument()}</mfrac>"
        if name in ("mathrm", "text", "operatorname"):
            text = self.raw_group()
            if name == "text":
                return f"<mtext>{html.escape(text)}</mtext>"
            return _mi(text, normal=True)
        if name == "mathbb":
            return f"<mi mathvariant='double-struck'>{html.escape(self.raw_group())}</mi>"
        if name == "mathrel":
            return "<mrow>" + self.argument().replace("<mi>", "<mo>").replace("</mi>", "</mo>") \
                + "</mrow>"
        if name in ("left", "right"):
            delimiter = self.take()
            delimiter = OPERATORS.get(delimiter[1:], delimiter[1:]) if delimiter.startswith(
                "\\") else delimiter
            return f"<mo stretchy='true'>{html.escape(delimiter)}</mo>"
        if name == "begin":
            return self.matrix()
        if name in GREEK:
            return _mi(GREEK[name], normal=name[0].isupper())
        if name in OPERATORS:
            large = " largeop='true'" if name == "sum" else ""
            return f"<mo{large}>{OPERATORS[name]}</mo>"
        if name in IDENTIFIERS:
            return _mi(IDENTIFIERS[name], normal=True)
        if name in SPACES:
            return f"<mspace width='{SPACES[name]}'></mspace>"
        raise ValueError(f"mathml: unknown LaTeX command \\{name}")

    def matrix(self) -> str:
        """\\begin{bmatrix} a & b \\\\ c & d \\end{bmatrix} as a bracketed mtable."""
        self.raw_group()
        rows, row = [], []
        while True:
            cell = self.sequence(("&", "\\\\", "\\end"))
            row.append("<mtd>" + "".join(cell) + "</mtd>")
            token = self.take()
            if token != "&":
                rows.append("<mtr>" + "".join(row) + "</mtr>")
                row = []
            if token == "\\end":
                self.raw_group()
                return ("<mrow><mo>[</mo><mtable>" + "".join(rows) +
                        "</mtable><mo>]</mo></mrow>")


def to_mathml(latex: str, display: bool = True) -> str:
    """``latex`` as a <math> element (block unless ``display`` is False), its source kept
    as the annotation (copying the formula gives the LaTeX)."""
    body = "".join(_Parser(latex).sequence())
    mode = " display='block'" if display else ""
    return (f"<math{mode}><semantics><mrow>{body}</mrow><annotation encoding='application/"
            f"x-tex'>{html.escape(latex)}</annotation></semantics></math>")
