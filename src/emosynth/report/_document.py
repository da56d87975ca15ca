"""A report as a list of blocks, rendered to Markdown (images linked) and to one self-contained
HTML file (images inlined as data URIs, so it can be mailed or opened from anywhere)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}code,pre{background:#f6f6f6;padding:2px 4px}pre{padding:8px;
overflow-x:auto}figcaption{font-size:13px;color:#555;margin-bottom:1.5em}"""


@dataclass
class Document:
    """A report as a list of blocks, rendered to Markdown and to self-contained HTML.

    Attributes:
        title: The report's title.
        blocks: The blocks, in order, as the ``heading``/``para``/… methods add them.
    """

    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2):
        """Add a heading.

        Args:
            text: The heading's text.
            level: Its level (2: a section; the title is level 1).
        """
        self.blocks.append(("h", level, text))

    def para(self, text: str):
        """Add a paragraph; ``**bold**`` and ``code`` spans render in both outputs.

        Args:
            text: The paragraph's text.
        """
        self.blocks.append(("p", text))

    def code(self, text: str):
        """Add a code block.

        Args:
            text: The code, shown verbatim.
        """
        self.blocks.append(("code", text))

    def bullets(self, items: list[str]):
        """Add a bulleted list.

        Args:
            items: One string per bullet.
        """
        self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list[str]]):
        """Add a table (first column left-aligned, the others right-aligned in Markdown).

        Args:
            header: The column names.
            rows: One list of cells per row; cells are converted with ``str``.
        """
        self.blocks.append(("table", list(header), [list(map(str, r)) for r in rows]))

    def image(self, path: str, caption: str):
        """Add an image with its caption.

        Args:
            path: The PNG file, relative to the document's folder.
            caption: The caption (also the alternative text).
        """
        self.blocks.append(("img", path, caption))

    # ------------------------------------------------------------------ rendering

    def markdown(self) -> str:
        """Render to Markdown, images linked.

        Returns:
            The Markdown text.
        """
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                out += ["#" * b[1] + " " + b[2], ""]
            elif kind == "p":
                out += [b[1], ""]
            elif kind == "code":
                out += ["```", b[1], "```", ""]
            elif kind == "ul":
                out += [f"- {i}" for i in b[1]] + [""]
            elif kind == "table":
                header, rows = b[1], b[2]
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|")
                out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
                out.append("")
            elif kind == "img":
                out += [f"![{b[2]}]({b[1]})", "", f"*{b[2]}*", ""]
        return "\n".join(out).rstrip() + "\n"

    def html(self, base: Path) -> str:
        """Render to one self-contained HTML page, images inlined as data URIs.

        Args:
            base: The document's folder, against which image paths are read.

        Returns:
            The HTML text.
        """
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                body.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(b[1])}</p>")
            elif kind == "code":
                body.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in b[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode((base / b[1]).read_bytes()).decode()
                alt = html.escape(b[2], quote=True)
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
                            f"<figcaption>{_inline(b[2])}</figcaption></figure>")
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}'
                f'</title><meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style>'
                f"</head><body>{''.join(body)}</body></html>\n")


def _inline(text: str) -> str:
    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    t = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', t)
    return t
