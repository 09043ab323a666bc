"""Every relative link and image in the pack's Markdown pages points at a file that exists, and every
#anchor at a heading of the page it names (GitHub's heading slugs). The README is the front page: no table
in its first screen, and every page in docs/ is linked from it; each docs page opens with a title and a
paragraph that says what it answers."""
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


README = os.path.join(ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def links(path):
    """The relative link targets of a page (outside code blocks), without their #anchor, as paths."""
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    found = set()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path_part = urllib.parse.unquote(target).partition("#")[0]
        if path_part:
            found.add(os.path.normpath(os.path.join(os.path.dirname(path), path_part)))
    return found


def test_the_readme_opens_without_a_table():
    with open(README, encoding="utf-8") as f:
        first = f.read().splitlines()[:60]
    tables = [n + 1 for n, line in enumerate(first) if line.lstrip().startswith("|")]
    assert not tables, f"README.md lines {tables}: a table in the first 60 lines (move it to a docs/ page)"


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "no docs/*.md found"
    linked = links(README)
    missing = [os.path.relpath(p, ROOT) for p in DOCS if os.path.normpath(p) not in linked]
    assert not missing, f"not linked from README.md: {missing}"


@pytest.mark.parametrize("page", DOCS, ids=[os.path.relpath(p, ROOT) for p in DOCS])
def test_docs_page_opens_with_a_title_and_a_paragraph(page):
    with open(page, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    assert len(lines) >= 2, f"{os.path.relpath(page, ROOT)} is empty"
    assert lines[0].startswith("# "), f"first line is not a '# ' title: {lines[0]!r}"
    first = lines[1].lstrip()
    assert not re.match(r"(#|\||```|!\[|[-*+] |\d+\. |>)", first), \
        f"the title is followed by {first!r}, not a paragraph saying what the page answers"
