#!/usr/bin/env bash
# Reproduce src/emosynth/stimuli/assets/jspsych/: the jsPsych browser bundles the jsPsych export of
# `emosynth stimuli export --format jspsych` copies into every study folder (so the study runs offline,
# from disk). Fetches the exact versions from the npm registry (or its local mirror) with `npm pack`,
# copies the minified browser builds and the stylesheet, and writes the licence file (the packages ship
# their MIT licence in package.json only). Run from anywhere: bash scripts/vendor_jspsych.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/src/emosynth/stimuli/assets/jspsych"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
packages=(jspsych@8.3.0 @jspsych/plugin-survey-likert@2.2.0 @jspsych/plugin-html-button-response@2.1.0
          @jspsych/plugin-preload@2.1.0)
cd "$work"
for p in "${packages[@]}"; do
  tgz="$(npm pack --silent "$p" | tail -1)"
  name="${tgz%.tgz}"
  mkdir -p "$name" && tar xzf "$tgz" -C "$name"
done
mkdir -p "$dest"
cp jspsych-8.3.0/package/dist/index.browser.min.js "$dest/jspsych.js"
cp jspsych-8.3.0/package/css/jspsych.css "$dest/jspsych.css"
cp jspsych-plugin-survey-likert-2.2.0/package/dist/index.browser.min.js "$dest/plugin-survey-likert.js"
cp jspsych-plugin-html-button-response-2.1.0/package/dist/index.browser.min.js "$dest/plugin-html-button-response.js"
cp jspsych-plugin-preload-2.1.0/package/dist/index.browser.min.js "$dest/plugin-preload.js"
{
  echo "jsPsych browser builds vendored by scripts/vendor_jspsych.sh from the npm registry:"
  for d in */package; do
    node -e "const p=require('./$d/package.json');console.log('  '+p.name+'@'+p.version+'  license: '+p.license+'  author: '+(p.author.name||p.author))"
  done
  echo "jspsych.js bundles its dependencies auto-bind, random-words and seedrandom (MIT licensed)."
  echo
  cat <<'MIT'
The MIT License (MIT)

Copyright (c) 2014-2025 Joshua R. de Leeuw

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
USE OR OTHER DEALINGS IN THE SOFTWARE.
MIT
} > "$dest/LICENSE.txt"
ls -l "$dest"
