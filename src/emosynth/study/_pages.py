"""The study's pages: plain server-rendered HTML, a little vanilla JavaScript, no build step, no CDN.

The Self-Assessment Manikin figures are drawn here as inline SVG (after Bradley & Lang's design, not
copied from it): valence by the mouth (a frown to a smile), arousal by the eyes and a burst in the
body with motion marks around it, dominance by the figure's size in its frame.
"""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from ._service import State

SCALES = {
    "valence": ("Valence", "unhappy, annoyed", "happy, pleased"),
    "arousal": ("Arousal", "calm, relaxed", "excited, wide-awake"),
    "dominance": ("Dominance", "controlled, submissive", "in control, dominant"),
}

CSS = """*{box-sizing:border-box}body{font:17px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:860px;margin:0 auto;padding:12px 14px 40px}h1{font-size:1.4em;margin:.4em 0}
.btn{font:inherit;font-size:1.05em;padding:.6em 1.6em;border:0;border-radius:8px;background:#1f5fbf;color:#fff;
cursor:pointer;min-height:44px}.btn[disabled]{background:#9aa9c0;cursor:not-allowed}
.stim{display:block;margin:6px auto 10px;max-width:100%;max-height:48vh;border-radius:6px;background:#eee}
fieldset{border:0;margin:0 0 10px;padding:0}legend{font-weight:600;font-size:.95em;padding:0}
.ends{display:flex;justify-content:space-between;font-size:.8em;color:#555}
.row{display:grid;grid-template-columns:repeat(9,1fr);gap:2px;align-items:end}
.row label{display:flex;flex-direction:column;align-items:center;justify-content:flex-end;cursor:pointer;
border:2px solid transparent;border-radius:8px;padding:2px 0;min-height:48px}
.row label:hover{background:#eef3fb}.row input{position:absolute;opacity:0;width:1px;height:1px}
.row input:checked+span{outline:none}.row label.on{border-color:#1f5fbf;background:#e3ecfa}
.row input:focus-visible~.n{outline:2px solid #1f5fbf}.row .n{font-size:.75em;color:#666}
.row svg{width:100%;max-width:64px;height:auto}.dot{width:10px;height:10px;border-radius:50%;background:#777;margin:auto 0 6px}
fieldset.cur legend::after{content:"  \\2190 keys 1-9";font-weight:400;color:#1f5fbf;font-size:.85em}
.bar{height:8px;background:#ddd;border-radius:4px;overflow:hidden;margin:4px 0 8px}.bar>div{height:100%;background:#1f5fbf}
.meta{font-size:.85em;color:#555}.check{background:#fff3cd;border:1px solid #e0c36a;padding:8px 10px;border-radius:6px}
.err{background:#fde2e1;border:1px solid #d88;padding:8px 10px;border-radius:6px}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
@media (max-width:520px){body{font-size:15px}.row .n{font-size:.65em}}"""


def _page(title: str, body: str, script: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>{body}</main>"
            f"{f'<script>{script}</script>' if script else ''}</body></html>")


def manikin(dim: str, level: int) -> str:
    """One SAM figure as SVG: ``level`` 1..5 from the scale's low end (left) to its high end."""
    t = (level - 1) / 4  # 0 .. 1
    ink = "#222"
    parts = []
    scale = 0.5 + 0.5 * t if dim == "dominance" else 0.9
    # figure drawn in a 60x80 box, anchored at the bottom centre, then scaled
    fig = []
    fig.append(f'<path d="M17 40 Q30 33 43 40 L47 76 L13 76 Z" fill="#f4f4f4" stroke="{ink}" stroke-width="2"/>')
    fig.append(f'<path d="M17 44 L7 60 M43 44 L53 60" stroke="{ink}" stroke-width="2" fill="none"/>')
    fig.append(f'<circle cx="30" cy="22" r="13" fill="#f4f4f4" stroke="{ink}" stroke-width="2"/>')
    if dim == "arousal":
        if level == 1:
            fig.append(f'<path d="M23 20 h4 M33 20 h4" stroke="{ink}" stroke-width="1.6"/>')  # eyes closed
        else:
            r = 1.2 + 0.5 * level
            fig.append(f'<circle cx="25" cy="20" r="{r:.1f}" fill="{ink}"/><circle cx="35" cy="20" r="{r:.1f}" fill="{ink}"/>')
        fig.append(f'<path d="M25 28 h10" stroke="{ink}" stroke-width="1.6"/>')
        # the burst in the body: a star whose size and points grow with arousal
        import math
        n, R, r0 = 4 + 2 * level, 3 + 3.2 * level, 1.5 + 1.2 * level
        pts = []
        for k in range(2 * n):
            rad = R if k % 2 == 0 else r0
            a = math.pi * k / n
            pts.append(f"{30 + rad * math.sin(a):.1f},{58 - rad * math.cos(a):.1f}")
        fig.append(f'<polygon points="{" ".join(pts)}" fill="#f0b429" stroke="{ink}" stroke-width="1"/>')
        for k in range(max(0, level - 2)):  # motion marks beside the figure
            y = 30 + 9 * k
            fig.append(f'<path d="M3 {y} l-2 4 2 4 M57 {y} l2 4 -2 4" stroke="{ink}" stroke-width="1.4" fill="none"/>')
    else:
        fig.append(f'<circle cx="25" cy="19" r="1.8" fill="{ink}"/><circle cx="35" cy="19" r="1.8" fill="{ink}"/>')
        if dim == "valence":
            c = 27 + 20 * (t - 0.5)  # control point: above the corners = frown, below = smile
            fig.append(f'<path d="M23 27 Q30 {c:.1f} 37 27" stroke="{ink}" stroke-width="2" fill="none"/>')
        else:
            fig.append(f'<path d="M25 28 h10" stroke="{ink}" stroke-width="1.6"/>')
    g = "".join(fig)
    if dim == "dominance":
        parts.append('<rect x="1" y="1" width="58" height="78" fill="none" stroke="#bbb" stroke-width="1"/>')
    tx = 30 * (1 - scale)
    ty = 78 * (1 - scale)
    parts.append(f'<g transform="translate({tx:.1f} {ty:.1f}) scale({scale:.3f})">{g}</g>')
    label = f"{SCALES[dim][0]} figure {level} of 5"
    return (f'<svg viewBox="0 0 60 80" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
            f"{''.join(parts)}</svg>")


def sam_row(dim: str, name: str | None = None, reversed_: bool = False) -> str:
    """A 9-point choice: figures at 1, 3, 5, 7, 9 and points between, each a radio button; ``reversed_``
    lays the scale out from 9 (left) to 1 (right), the values it records unchanged."""
    title, low, high = SCALES[dim]
    cells = []
    if reversed_:
        low, high = high, low
    for v in (range(9, 0, -1) if reversed_ else range(1, 10)):
        mark = manikin(dim, (v + 1) // 2) if v % 2 else '<span class="dot"></span>'
        inp = (f'<input type="radio" name="{name}" value="{v}" aria-label="{title} {v} of 9" required>'
               if name else "")
        cells.append(f'<label>{inp}{mark}<span class="n">{v}</span></label>')
    return (f'<fieldset data-dim="{dim}"><legend>{title}</legend>'
            f'<div class="ends"><span>{9 if reversed_ else 1} = {low}</span><span>{1 if reversed_ else 9} = {high}</span></div>'
            f'<div class="row">{"".join(cells)}</div></fieldset>')


DEVICE_JS = r"""(function(){var f=document.getElementById('joinform');function set(n,v){var i=document.createElement('input');
i.type='hidden';i.name=n;i.value=String(v);f.appendChild(i)}
set('screen_w',screen.width);set('screen_h',screen.height);set('window_w',window.innerWidth);
set('window_h',window.innerHeight);set('dpr',window.devicePixelRatio||1);
set('touch',('ontouchstart' in window)||navigator.maxTouchPoints>0);set('user_agent',navigator.userAgent)})();"""


def welcome_page(name: str, params: dict) -> str:
    """The first page: a Start button; the recruiting platform's parameters and the device's screen and
    window size go with it (hidden fields)."""
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items())
    return _page("Welcome", f"<h1>Welcome</h1><form method='post' id='joinform' action='/join/{quote(name)}'>{hidden}"
                            "<button class='btn' id='join' autofocus>Start</button></form>", DEVICE_JS)


def consent_page(token: str, st: State) -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in st.consent_text.split("\n\n") if p.strip())
    return _page("Consent", f"""<h1>Before you start</h1>{paras}
<form method="post" action="/p/{quote(token)}/consent"><button class="btn" id="agree" autofocus>I agree to take part</button></form>
<p class="meta">If you do not agree, close this page; nothing is recorded.</p>""")


def instructions_page(token: str, st: State) -> str:
    rows = "".join(sam_row(d, None, st.scale_reversed) for d in SCALES)
    lo, hi = ("right", "left") if st.scale_reversed else ("left", "right")
    return _page("Instructions", f"""<h1>How to rate</h1>
<p>You will see a series of pictures. For each, rate how it makes <em>you</em> feel on three scales,
by choosing one of nine positions in each row: on a figure or on a point between two figures.</p>
<ul><li><b>Valence</b>: from unhappy, annoyed ({lo}) to happy, pleased ({hi}).</li>
<li><b>Arousal</b>: from calm, relaxed ({lo}) to excited, wide-awake ({hi}).</li>
<li><b>Dominance</b>: from controlled, cared-for ({lo}, a small figure) to in control, important ({hi}, a big figure).</li></ul>
{rows}
<p>Keyboard: press <b>1</b>-<b>9</b> for the highlighted row (it moves on by itself), <b>Enter</b> to go on.
Some screens ask you to choose the leftmost figure in every row: please do.
First come {st.practice_total} practice pictures.</p>
<form method="post" action="/p/{quote(token)}/instructions"><button class="btn" id="start" autofocus>Start the practice</button></form>""")


TRIAL_JS = r"""(function(){
var form=document.getElementById('rate'),btn=document.getElementById('next'),
sets=[].slice.call(form.querySelectorAll('fieldset'));
function row(i){return sets[i]}
function cur(){for(var i=0;i<sets.length;i++){if(!sets[i].querySelector('input:checked'))return i}return -1}
function paint(){var c=cur();sets.forEach(function(f,i){f.classList.toggle('cur',i===c);
[].forEach.call(f.querySelectorAll('label'),function(l){l.classList.toggle('on',l.querySelector('input').checked)})});
btn.disabled=c!==-1}
form.addEventListener('change',paint);
document.addEventListener('keydown',function(e){if(e.ctrlKey||e.metaKey||e.altKey)return;
var k=e.key;if(k>='1'&&k<='9'){var c=cur();if(c<0)c=sets.length-1;
var inp=row(c).querySelector('input[value="'+k+'"]');inp.checked=true;paint();e.preventDefault()}
else if(k==='Enter'&&cur()===-1){e.preventDefault();submit()}});
var img=document.querySelector('img.stim'),shown=null;function mark(){if(shown===null)shown=performance.now()}
if(img.complete&&img.naturalWidth)mark();else img.addEventListener('load',mark);
function put(n,v){var i=form.querySelector('input[name="'+n+'"]');if(!i){i=document.createElement('input');
i.type='hidden';i.name=n;form.appendChild(i)}i.value=String(v)}
var sent=false;function submit(){if(sent)return;sent=true;btn.disabled=true;
if(shown!==null)put('rt_client_ms',Math.round(performance.now()-shown));
put('window_w',window.innerWidth);put('window_h',window.innerHeight);form.submit()}
form.addEventListener('submit',function(e){e.preventDefault();if(cur()===-1)submit()});
paint()})();"""


def trial_page(token: str, st: State, error: str | None = None) -> str:
    t = quote(token)
    if st.kind == "practice":
        where = f"Practice {st.practice_done + 1} of {st.practice_total}"
        pct = 0
    else:
        where = f"Picture {st.done + 1} of {st.total}"
        pct = round(100 * st.done / max(st.total, 1))
    check = ('<p class="check" id="check"><b>Attention check:</b> for this picture, choose the <b>leftmost</b> '
             f"figure ({9 if st.scale_reversed else 1}) in every row.</p>" if st.kind == "attention" else "")
    err = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    rows = "".join(sam_row(d, d, st.scale_reversed) for d in SCALES)
    return _page(where, f"""<div class="meta" id="progress">{where}</div>
<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{st.total}" aria-valuenow="{st.done}"><div style="width:{pct}%"></div></div>
{err}{check}<img class="stim" src="/p/{t}/img/{quote(st.image)}" alt="Picture to rate">
<form id="rate" method="post" action="/p/{t}/rate"><input type="hidden" name="trial" value="{st.trial_id}">
{rows}<button class="btn" id="next" type="submit">Next</button></form>""", TRIAL_JS)


def done_page(st: State) -> str:
    """The thank-you page; with a completion URL it sends the participant there after a moment (and
    offers the link, for a browser that blocks the redirect)."""
    code = (f'<p>Your completion code: <b id="code">{html.escape(st.completion_code)}</b></p>'
            if st.completion_code else "")
    if st.completion_url:
        url = html.escape(st.completion_url)
        return _page("Thank you", f'<h1 id="thanks">Thank you!</h1><p>Your {st.done} ratings are saved.</p>{code}'
                                  f'<p><a class="btn" id="complete" href="{url}">Finish and return</a></p>'
                                  "<p class='meta'>You are being taken back in a moment.</p>",
                     f"setTimeout(function(){{location.replace({json.dumps(st.completion_url)})}},1500);")
    return _page("Thank you", f'<h1 id="thanks">Thank you!</h1><p>Your {st.done} ratings are saved. '
                              f"You can close this page.</p>{code}")


def paused_page() -> str:
    return _page("Paused", "<h1>The study is paused</h1><p>Please come back later with the same link; "
                           "your answers so far are saved.</p>")


def message_page(title: str, text: str) -> str:
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")


def admin_page(studies: list[dict], join_base: str) -> str:
    rows = []
    for st in studies:
        n = quote(st["name"])
        action = "resume" if st["paused"] else "pause"
        rows.append(f"<tr><td><a href='/admin/study/{n}'>{html.escape(st['name'])}</a></td>"
                    f"<td>{'paused' if st['paused'] else 'open'}</td><td>{st['started']}</td><td>{st['finished']}</td>"
                    f"<td>{st['ratings']}</td><td>{len(st['images'])}</td>"
                    f"<td><code>{html.escape(join_base)}/join/{n}</code></td>"
                    f"<td><form method='post' action='/admin/study/{n}/{action}'><button>{action}</button></form> "
                    f"<a href='/admin/study/{n}/export.csv'>export CSV</a></td></tr>")
    return _page("Studies", "<h1>Studies</h1><table><tr><th>study</th><th>state</th><th>started</th><th>finished</th>"
                            "<th>ratings</th><th>images</th><th>participant link</th><th></th></tr>"
                 + "".join(rows) + "</table><p class='meta'>Reload for live progress.</p>")


def admin_study_page(st: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(i['file'])}</td><td>{html.escape(i['target'])}</td>"
                   f"<td>{html.escape(i['source'])}</td><td>{i['ratings']}</td></tr>" for i in st["images"])
    return _page(st["name"], f"<p><a href='/admin'>all studies</a></p><h1>{html.escape(st['name'])}</h1>"
                             f"<p>{st['started']} started, {st['finished']} finished, {st['ratings']} ratings"
                             f"{' (paused)' if st['paused'] else ''}.</p><table><tr><th>image</th><th>target</th>"
                             f"<th>source</th><th>ratings</th></tr>{rows}</table>")
