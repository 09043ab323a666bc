"""Every relative link and image in the pack's Markdown pages points at a file that exists, and every
#anchor at a heading of the page it names (GitHub's heading slugs)."""
import glob
import os
import re
import urllib.parse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(p for pattern in ("*.md", "docs/*.md", "*/README.md") for p in glob.glob(os.path.join(ROOT, pattern))
               if "/build/" not in p and "/.venv/" not in p and "/out/" not in p)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    inside_code, found = False, set()
    for line in lines:
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=[os.path.relpath(p, ROOT) for p in PAGES])
def test_relative_links_and_images_resolve(page):
    with open(page, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here
            continue
        path, _, anchor = urllib.parse.unquote(target).partition("#")
        where = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(where):
            broken.append(f"{target}: no {os.path.relpath(where, ROOT)}")
        elif anchor and where.endswith(".md") and anchor not in anchors(where):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(where, ROOT)}")
    assert not broken, broken
