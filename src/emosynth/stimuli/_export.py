"""Exports of a stimulus folder for the tools labs run studies in: jsPsych, PsychoPy, plain CSV.

``jspsych``   a study folder that runs from disk (open ``index.html``; no server, no network): the vendored
              jsPsych 8.3.0 bundles (``assets/jspsych``, reproduced by ``scripts/vendor_jspsych.sh``), the
              images, ``timeline.json`` (the trials and settings; ``timeline.js`` holds the same object for
              ``file://`` pages, which may not fetch files), and ``experiment.js``: instructions, a preload,
              one SAM rating per image (``survey-likert``: valence, arousal, optionally dominance, 1–9,
              images in random order), and at the end the ratings saved as CSV (``data.localSave``: one row
              per image with participant, trial number, file, cell, the ratings 1–9 and response time in ms).
              URL parameters ``PROLIFIC_PID``/``STUDY_ID``/``SESSION_ID`` (or ``participant``) are recorded.
``psychopy``  ``conditions.csv`` for a Builder loop (``image`` column → an Image component's ``$image``;
              every column name a valid Python name), the images, and a README saying how to wire it.
``csv``       ``stimuli.csv`` (the stimulus table with an ``image`` path column) and the images.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, DataError

FORMATS = ("jspsych", "psychopy", "csv")
ASSETS = Path(__file__).resolve().parent / "assets" / "jspsych"
JSPSYCH_FILES = ("jspsych.js", "jspsych.css", "plugin-survey-likert.js", "plugin-html-button-response.js",
                 "plugin-preload.js", "LICENSE.txt")
PROMPTS = {"valence": "How did the picture make you feel? (1 = unhappy, 9 = happy)",
           "arousal": "How calm or excited did it make you feel? (1 = calm, 9 = excited)",
           "dominance": "How controlled or in control did you feel? (1 = controlled, 9 = in control)"}
ANCHORS = {"valence": ("unhappy", "happy"), "arousal": ("calm", "excited"),
           "dominance": ("controlled", "in control")}

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="jspsych/jspsych.css">
<style>img.stimulus{{max-height:55vh;max-width:90vw;display:block;margin:0 auto 1em}}
.jspsych-survey-likert-statement{{font-size:17px}}</style>
<script src="jspsych/jspsych.js"></script>
<script src="jspsych/plugin-preload.js"></script>
<script src="jspsych/plugin-html-button-response.js"></script>
<script src="jspsych/plugin-survey-likert.js"></script>
<script src="timeline.js"></script>
</head><body><script src="experiment.js"></script></body></html>
"""

_EXPERIMENT = r"""// The emosynth SAM rating study (jsPsych 8.3.0). Settings and trials: timeline.json (= timeline.js).
const S = window.EMOSYNTH_STUDY;
let saved = null;
function saveData() {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  saved = `${S.name}-${participant}-${stamp}.csv`;
  jsPsych.data.get().filter({task: "rating"}).ignore(["response", "question_order", "stimulus"])
    .localSave("csv", saved);
}
const jsPsych = initJsPsych({
  on_finish: () => {
    saveData();
    document.body.innerHTML = `<div style="max-width:640px;margin:4em auto;font-family:sans-serif">
      <h2>Thank you</h2><p>Your ratings were saved as <b id="saved-file">${saved}</b>.</p></div>`;
  }
});
const url = jsPsych.data.urlVariables();
const participant = url.PROLIFIC_PID || url.participant || url.workerId || url.id ||
  jsPsych.randomization.randomID(10);
jsPsych.data.addProperties({participant: participant, study: S.name, study_id: url.STUDY_ID || "",
                            session_id: url.SESSION_ID || ""});
function labels(d) {
  return Array.from({length: 9}, (_, i) =>
    i === 0 ? `1<br>${S.anchors[d][0]}` : (i === 8 ? `9<br>${S.anchors[d][1]}` : String(i + 1)));
}
let trialNumber = 0;
const rating = {
  type: jsPsychSurveyLikert,
  preamble: () => `<img class="stimulus" alt="stimulus" src="${jsPsych.evaluateTimelineVariable("image")}">`,
  questions: S.dimensions.map(d => ({prompt: S.prompts[d], labels: labels(d), required: true, name: d})),
  button_label: "Next",
  data: {task: "rating"},
  on_finish: (data) => {
    trialNumber += 1;
    data.trial_number = trialNumber;
    data.file = jsPsych.evaluateTimelineVariable("file");
    data.cell = jsPsych.evaluateTimelineVariable("cell");
    for (const d of S.dimensions) data[d] = data.response[d] + 1;  // the plugin counts from 0
  }
};
jsPsych.run([
  {type: jsPsychPreload, images: S.trials.map(t => t.image)},
  {type: jsPsychHtmlButtonResponse, stimulus: S.instructions, choices: ["Start"]},
  {timeline: [rating], timeline_variables: S.trials, randomize_order: S.randomize},
]);
"""


def _identifier(name: str) -> str:
    s = re.sub(r"\W", "_", str(name))
    return s if s and not s[0].isdigit() else f"c_{s}"


def read_stimuli(folder: str | Path) -> pd.DataFrame:
    """The stimulus table of an ``emosynth stimuli`` folder; anything else is one ``DataError`` line.

    Args:
        folder: The stimulus folder (``emosynth stimuli --out``).

    Returns:
        Its stimuli.csv: one row per image, at least ``file`` (a path inside images/) and ``cell``.

    Raises:
        DataError: If ``folder`` is not a stimulus folder, its table is unreadable or lacks file and cell
            columns or rows, or a listed file is not an image in its images/.
    """
    from ..fsio import output_kind

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such stimulus folder")
    if output_kind(folder) != "stimuli" or not (folder / "stimuli.csv").is_file():
        raise DataError(f"{folder}: not a stimulus folder (write one with 'emosynth stimuli ... --out DIR')")
    try:
        df = pd.read_csv(folder / "stimuli.csv", keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as e:
        raise DataError(f"{folder / 'stimuli.csv'}: unreadable ({e})") from None
    if not {"file", "cell"} <= set(df.columns) or df.empty:
        raise DataError(f"{folder / 'stimuli.csv'}: needs file and cell columns and at least one row")
    images = (folder / "images").resolve()
    for f in df["file"].astype(str):
        p = (folder / f).resolve()
        if not p.is_relative_to(images) or not p.is_file():
            raise DataError(f"{folder / 'stimuli.csv'}: {f} is not an image in the folder's images/")
    return df


def export_stimuli(folder: str | Path, fmt: str, out: str | Path, dominance: bool = False,
                   title: str | None = None, randomize: bool = True, overwrite: bool = False) -> Path:
    """Write the ``fmt`` export of stimulus folder ``folder`` to the new folder ``out``; returns the main
    file (index.html, conditions.csv or stimuli.csv).

    Args:
        folder: The stimulus folder (``emosynth stimuli --out``).
        fmt: The export format: ``"jspsych"``, ``"psychopy"`` or ``"csv"``.
        out: The export folder to write.
        dominance: Whether the jsPsych study also rates dominance (valence and arousal always, 1–9).
        title: The study's name in the jsPsych export; default the stimulus folder's name.
        randomize: Whether the jsPsych study shows the images in random order.
        overwrite: Whether to replace an earlier export of the same format at ``out``.

    Returns:
        The export's main file.

    Raises:
        ConfigError: For an unknown format.
        DataError: If ``folder`` is not a readable stimulus folder (``read_stimuli``).
        OutputError: If ``out`` cannot be written under the ownership rule (``check_output``).
    """
    from ..fsio import atomic_write_text, check_output, output_directory, write_json

    if fmt not in FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    df = read_stimuli(folder)
    folder = Path(folder)
    kind = f"stimuli-{fmt}"
    check_output(out, kind, overwrite)
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", title or folder.resolve().name) or "stimuli"
    with output_directory(out, kind, overwrite) as new:
        (new / "images").mkdir()
        for f in df["file"].astype(str):
            shutil.copyfile(folder / f, new / "images" / Path(f).name)
        image = ["images/" + Path(f).name for f in df["file"].astype(str)]
        if fmt == "jspsych":
            for f in JSPSYCH_FILES:
                (new / "jspsych").mkdir(exist_ok=True)
                shutil.copyfile(ASSETS / f, new / "jspsych" / f)
            dims = ["valence", "arousal"] + (["dominance"] if dominance else [])
            study = {"name": name, "dimensions": dims, "randomize": bool(randomize),
                     "prompts": {d: PROMPTS[d] for d in dims}, "anchors": {d: ANCHORS[d] for d in dims},
                     "instructions": ("<p>You will see " + str(len(df)) + " pictures, one at a time.</p><p>For each, "
                                      "rate how it makes you feel on the scales below it, from 1 to 9, then "
                                      "press Next. There are no right or wrong answers.</p>"),
                     "trials": [{"image": im, "file": str(f), "cell": str(c)}
                                for im, f, c in zip(image, df["file"], df["cell"])],
                     "jspsych_version": "8.3.0"}
            write_json(new / "timeline.json", study)
            atomic_write_text(new / "timeline.js", "window.EMOSYNTH_STUDY = " + json.dumps(study, indent=1) + ";\n")
            atomic_write_text(new / "experiment.js", _EXPERIMENT)
            atomic_write_text(new / "index.html", _INDEX.format(title=name))
            atomic_write_text(new / "README.md", (
                f"# {name}: a jsPsych {study['jspsych_version']} SAM rating study\n\n"
                "Open index.html in a browser (it runs from disk, offline), or upload this folder to JATOS, "
                "Pavlovia or any web server. Each participant rates every image (in random order) on "
                f"{', '.join(dims)} (1-9); at the end the ratings download as a CSV file, one row per image "
                "(participant, trial_number, file, cell, the ratings, rt in ms). Add ?PROLIFIC_PID=...&STUDY_ID="
                "...&SESSION_ID=... (or ?participant=...) to the URL to record who rated.\n\n"
                "jsPsych (MIT licence, jspsych/LICENSE.txt) is vendored unchanged from npm.\n"))
            main = new / "index.html"
        else:
            table = df.copy()
            table.insert(0, "image", image)
            table = table.rename(columns={c: _identifier(c) for c in table.columns})
            fname = "conditions.csv" if fmt == "psychopy" else "stimuli.csv"
            atomic_write_text(new / fname, table.to_csv(index=False))
            if fmt == "psychopy":
                atomic_write_text(new / "README.md", (
                    "# PsychoPy conditions\n\nIn Builder, put a Loop around your trial routine with "
                    "Conditions = conditions.csv (loopType random). In the routine, an Image component with "
                    "Image = $image (set every repeat), and one Slider per SAM scale (ticks 1-9; e.g. named "
                    "valence, arousal, dominance; labels unhappy/happy, calm/excited, controlled/in control). "
                    "Every other column (cell, target_*, predicted valence/arousal/dominance, the balanced "
                    "features) is saved beside each response.\n"))
            main = new / fname
        write_json(new / "export.json", {"format": fmt, "from": str(folder), "images": len(df)})
    return Path(out) / main.name
