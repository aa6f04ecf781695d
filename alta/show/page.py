"""One self-contained HTML page of a `View`: the figures as PNG data URIs, the decoded
values and the rules fired as HTML tables. No external asset, so the page can be mailed,
attached to an issue or opened offline; the PNGs are written beside it too.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from alta.errors import UsageError
from alta.show import figures
from alta.show.views import View, same

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: center; }
th { background: #f3f3f3; } td.bad { background: #f4a6a6; }
span.i { color: #888; font-size: 0.85em; margin-left: 0.3em; }
code { background: #f6f6f6; padding: 0 3px; } li.note { color: #a40; }
"""


def write(v: View, out: str | Path, layers: Any = None) -> Path:
    """Write DIR/index.html and its figures (residuals.png, attention.png, values.png);
    return the page's path."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder '{out}': {exc}") from None
    pngs = {
        "residuals": figures.residual_figure(v, layers),
        "attention": figures.attention_figure(v, layers),
        "values": figures.values_figure(v),
    }
    images = {}
    for name, fig in pngs.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        data = buf.getvalue()
        (out / f"{name}.png").write_bytes(data)
        images[name] = base64.b64encode(data).decode("ascii")
    page = out / "index.html"
    page.write_text(render(v, images), encoding="utf-8")
    return page


def render(v: View, images: dict[str, str]) -> str:
    """The page's HTML; `images` maps a figure's name to its base64 PNG."""
    e = html.escape
    bad = v.mismatches()
    verdict = (
        "the interpreter was not run"
        if v.interpreted is None
        else f"{len(bad)} value(s) differ from the interpreter"
        if bad
        else "every decoded value equals the interpreter's"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>alta show: {e(v.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>alta show: <code>{e(v.name)}</code></h1>",
        f"<p>Input <code>{e(' '.join(map(str, v.tokens)))}</code>; {v.layers} layer(s), "
        f"{'halted' if v.halted else 'not halted'}; {e(verdict)}. Every picture is decoded "
        "from the compiled model's residual stream; grey values beside are the "
        "interpreter's.</p>",
        "<ul>" + "".join(f'<li class="note">{e(n)}</li>' for n in v.notes) + "</ul>",
    ]
    captions = {
        "residuals": "The residual stream, each dimension labelled variable=value",
        "attention": "Each head's attention pattern (the last column is the null slot)",
        "values": "Decoded values after the last layer (red: differs from the interpreter)",
    }
    for name, caption in captions.items():
        if name in images:
            parts.append(f"<h2>{e(caption)}</h2>")
            parts.append(f'<img alt="{e(name)}" src="data:image/png;base64,{images[name]}">')
    parts.append("<h2>Decoded values per layer</h2>")
    parts.extend(_values_table(v, k) for k in range(v.layers + 1))
    parts.append("<h2>Rules that fired</h2>")
    parts.append(_rules(v))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _header(v: View) -> str:
    cells = "".join(f"<th>{i}:{t}</th>" for i, t in enumerate(v.tokens))
    return f"<tr><th></th>{cells}</tr>"


def _values_table(v: View, k: int) -> str:
    e = html.escape
    rows = [f"<h3>{'embedding' if k == 0 else f'after layer {k}'}</h3><table>", _header(v)]
    want = v.interpreted[k] if v.interpreted is not None else {}
    for name in v.variables:
        cells = []
        for i, value in enumerate(v.compiled[k][name]):
            text = e(figures.fmt(value))
            if name in want:
                other = want[name][i]
                kind = "" if same(value, other) else ' class="bad"'
                cells.append(f'<td{kind}>{text}<span class="i">{e(figures.fmt(other))}</span></td>')
            else:
                cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><th>{e(name)}</th>{''.join(cells)}</tr>")
    return "\n".join([*rows, "</table>"])


def _rules(v: View) -> str:
    e = html.escape
    if v.rules is None:
        return "<p>The model does not know its IR2 rules (it was loaded from a file).</p>"
    if v.fired is None:
        return "<p>No interpreter run, so no rules are shown as fired.</p>"
    rows = ["<table>", _header(v)]
    for k, per_position in enumerate(v.fired, start=1):
        cells = "".join(
            f"<td>{' '.join(f'#{j}' for j in rules) or '&middot;'}</td>" for rules in per_position
        )
        rows.append(f"<tr><th>layer {k}</th>{cells}</tr>")
    rows.append("</table><ul>")
    rows.extend(f"<li><code>{e(text)}</code></li>" for text in v.rules)
    rows.append("</ul>")
    return "\n".join(rows)
