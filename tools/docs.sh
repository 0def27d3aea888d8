#!/usr/bin/env bash
# Build the docs site into _docs/ without quarto: nbdev processes the notebooks (show_doc pages, directives), smalldocs renders them.
# Where quarto is installed, `nbdev-docs` builds the same site (the deploy workflow does that on GitHub).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf _proc _docs
nbdev-proc-nbs 2> >(grep -v -E "quarto|Found cells containing imports|warn\(f'Found cells" >&2)
smalldocs render _proc 2>&1 | { grep -v -E "output-file is not read|unknown key format-links|format commonmark is not built|keep-md is ignored" || true; }
mv _proc/_docs _docs
echo "site: _docs/index.html ($(find _docs -name '*.html' | wc -l) pages)"
