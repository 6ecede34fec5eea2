"""The report pages link to each other (issue #21): every page opens with a table of contents whose
anchors are ids of that page, and a bar of relative links to its sibling reports that exist, never to
one that does not; a page written first is linked to the later ones afterwards, except inside a signed
release bundle (its utility and risk reports link to each other only). Forest plots read on clinician
ticks, heatmaps on a colour map centred at 0, both byte-identical for the same report.

One small linkage run (400 x 4,000, few random pairs for u) is linked and evaluated once and
laid out as a demo would; the demo report is written by the demo's own writer over it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from harmonie.report_html import FAMILY, family, link_family, page, pages_nav, relink
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))
HREF = re.compile(r"""<a [^>]*href=["']([^"']+)["']""")
ID = re.compile(r"""\sid=["']([^"']+)["']""")


def _body(path: Path) -> str:
    """What follows the page's title (the linkage report inlines Vega in its head)."""
    text = path.read_text(encoding="utf-8")
    return text[text.index("<h1>"):]


def _nav(body: str, kind: str) -> str:
    found = re.search(rf"<nav class='{kind}'[^>]*>(.*?)</nav>", body, re.S)
    assert found, f"no nav.{kind}"
    return found.group(1)


def check_page(path: Path) -> dict[str, Path]:
    """Asserts the page's contents resolve to its own ids and its links to existing files; returns the links."""
    body = _body(path)
    ids = set(ID.findall(body))
    anchors = HREF.findall(_nav(body, "toc"))
    assert anchors and all(a.startswith("#") for a in anchors), anchors
    assert {a[1:] for a in anchors} <= ids, sorted({a[1:] for a in anchors} - ids)
    links = {}
    for href in HREF.findall(body):
        if href.startswith("#"):
            assert href[1:] in ids or href.startswith("#only="), href
            continue
        assert not re.match(r"[a-z]+:", href) and not href.startswith("/"), f"not a relative link: {href}"
        target = (path.parent / href).resolve()
        assert target.is_file(), f"{path.name}: dead link {href}"
        links[href] = target
    return links


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A demo-like tree: OUT/linkage_unit/run (linked), OUT/evaluator (evaluated), OUT/data_team/refused with
    the utility and risk pages (an unsigned release folder), and the demo report written over them."""
    from harmonie.demo_report import write_demo_report
    from linkage.datasets import make_population
    from linkage.encoding import encode_holder, write_encoded
    from linkage.evaluate import evaluate_links
    from linkage.link import link, write_link_outputs
    from linkage.report import build_link_report, write_link_report
    from linkage.spec import example_spec_text, parse_spec

    out = tmp_path_factory.mktemp("navigation")
    population = make_population(400, 4_000, seed=11)
    (out / "linkage_unit").mkdir()
    spec = parse_spec(example_spec_text("indirect").replace("u_sample_pairs = 5000000", "u_sample_pairs = 50000"))
    crosswalks = {}
    for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                               ("snds", "snds_beneficiaries", "snds_stays")):
        encoded = encode_holder(spec, KEY, role, population.tables[table], population.tables[stays])
        write_encoded(encoded.encoded, encoded.metadata, out / "linkage_unit" / f"{role}.encoded.parquet")
        crosswalks[role] = encoded.crosswalk.to_pandas()
    run = out / "linkage_unit" / "run"
    result = link(spec, out / "linkage_unit" / "cohort.encoded.parquet", out / "linkage_unit" / "snds.encoded.parquet")
    write_link_outputs(result, run, keep_candidates=True, charts=False)  # the report alone, not the PNG charts:
    # as the demo does, with links to pages not written yet (left out, not left dead)
    write_link_report(build_link_report(result, links_to={"demo report": "../../report.html",
                                                          "with the truth": "../../evaluator/report.html"}), run)
    evaluation = evaluate_links(result.links.to_pandas(), population["truth"], crosswalks["cohort"],
                                crosswalks["snds"], population["snds_duplicates"], summary_path=run / "summary.json",
                                out_dir=out / "evaluator", candidates_path=run / "candidates.parquet",
                                hard_cases=population["hard_cases"], run_dir=run,
                                links_to={"demo report": "../report.html"})
    reports = out / "data_team" / "refused"
    checks = [{"name": "x", "what": "a check", "value": 0.5, "rule": "<=", "threshold": 1.0, "passed": True}]
    for name, title in FAMILY:  # the release's pages, each written knowing only those written before it
        folder = (reports / name).parent
        folder.mkdir(parents=True)
        (folder / f"{folder.name}.json").write_text(json.dumps({"verdict": "adequate", "checks": checks}))
        (folder / Path(name).name).write_text(page(title, "", f"<h2 id='s1'>One</h2><p>{title}</p>",
                                                   here=reports / name, pages=family(reports / name)))
        link_family(reports / name)
    summary = result.summary
    demo = {"evaluation": evaluation, "link_summary": summary,
            "population": {"cohort_patients": 1_500, "snds_beneficiaries": 20_000},
            "release": {"released": False, "refusal": "refused for the test", "reports": reports,
                        "analytic": {"patients": {"cohort_records": 1_500, "linked": 1_400, "quarantined": 0,
                                                  "train": 1_100, "control": 300}}}}
    write_demo_report(out, demo, scale="tiny", scenario="indirect")
    return out


PAGES = ("report.html", "linkage_unit/run/report.html", "evaluator/report.html",
         "data_team/refused/utility/utility.html", "data_team/refused/risk/risk.html")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_contents_and_only_live_relative_links(tree, name):
    links = check_page(tree / name)
    others = {tree / p for p in PAGES if p != name}
    pages_bar = {(tree / name).parent.joinpath(h).resolve() for h in HREF.findall(_nav(_body(tree / name), "pages"))}
    # every other page of the run, written before or after this one, is linked from it
    assert pages_bar == {p.resolve() for p in others}, (name, pages_bar)
    assert set(links.values()) >= pages_bar


def test_pages_inside_a_signed_bundle_link_to_each_other_only(tmp_path):
    from harmonie.demo_report import demo_pages, link_demo_pages
    from privacy.release.bundle import MANIFEST

    bundle = tmp_path / "data_team" / "release_bundle"
    for name, title in FAMILY:
        (bundle / name).parent.mkdir(parents=True)
        (bundle / name).write_text(page(title, "", "<h2 id='a'>A</h2>", here=bundle / name,
                                        pages=family(bundle / name)))
        link_family(bundle / name)
    (bundle / MANIFEST).write_text("{}")
    before = {name: (bundle / name).read_bytes() for name, _ in FAMILY}
    (tmp_path / "report.html").write_text(page("demo", "", "<h2 id='a'>A</h2>", here=tmp_path / "report.html",
                                               pages=demo_pages(tmp_path, bundle)))
    assert link_demo_pages(tmp_path, bundle) == []  # the linkage pages do not exist here; the bundle is signed
    assert {name: (bundle / name).read_bytes() for name, _ in FAMILY} == before
    assert "../risk/risk.html" in before["utility/utility.html"].decode()
    assert "../utility/utility.html" in before["risk/risk.html"].decode()
    assert "data_team/release_bundle/risk/risk.html" in (tmp_path / "report.html").read_text()


def test_links_are_relative_to_the_page_and_none_to_a_missing_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b.html").write_text("x")
    nav = pages_nav(tmp_path / "a" / "page.html", [("b", tmp_path / "b.html"), ("missing", tmp_path / "c.html"),
                                                  ("itself", "page.html"), ("b again", "../b.html")])
    assert HREF.findall(nav) == ["../b.html"]
    assert pages_nav(None, [("b", tmp_path / "b.html")]).endswith("></nav>")  # nowhere to be relative to
    assert not relink(tmp_path / "b.html", [])  # no bar to rewrite
    # escaping: a title or a folder name cannot break out of the attribute
    odd = tmp_path / "x'y"
    odd.mkdir()
    (odd / "p.html").write_text("x")
    assert "x&#x27;y/p.html" in pages_nav(tmp_path / "q.html", [("<b>", odd / "p.html")])


def test_the_contents_list_every_section_and_sections_can_be_shown_alone():
    html = page("t", "s", "<div class='verdict'><h2>headline</h2></div><h2 id='one'>1. First (detail)</h2><p>a</p>"
                          "<h2 id=\"two\">2. Second: more</h2><p>b</p>")
    toc = _nav(html[html.index("<h1>"):], "toc")
    assert HREF.findall(toc) == ["#one", "#two"] and ">1. First<" in toc and ">2. Second<" in toc
    assert "<section class='part' id='only-one'><h2 id='one'>" in html and html.count("<section") == 2
    assert "section.part:target" in html and "<script" not in html and "http" not in html


def test_forest_plots_read_on_clinician_ticks_and_heatmaps_are_centred_at_zero():
    import io

    import numpy as np
    from PIL import Image

    from synth.report import plots

    assert plots.clinician_ticks(*plots.hr_axis_range([])) == [0.75, 1.0, 1.5]
    terms = [{"term": "stage_2", "real": {"hr": 1.8, "lower": 1.4, "upper": 2.3},
              "synthetic": {"hr": 2.1, "lower": 1.6, "upper": 2.7}, "covered": True},
             {"term": "age_per_10y", "real": {"hr": 0.6, "lower": 0.45, "upper": 0.8},
              "synthetic": {"hr": 0.9, "lower": 0.01, "upper": 100.0}, "covered": False}]
    lo, hi = plots.hr_axis_range(terms)
    assert lo >= plots.HR_AXIS_LIMITS[0] and hi == plots.HR_AXIS_LIMITS[1]
    assert {0.25, 0.5, 1.0, 2.0, 4.0} <= set(plots.clinician_ticks(lo, hi))
    assert plots.clinician_ticks(0.4, 3.0) == [0.5, 0.75, 1.0, 1.5, 2.0]
    first = plots.forest(terms, "breast")
    assert plots.forest(terms, "breast") == first  # byte-identical
    assert Image.open(io.BytesIO(base64.b64decode(first))).size[0] == 640

    n = 34
    rng = np.random.default_rng(0)
    matrix = np.clip(rng.normal(0, 0.4, (n, n)), -1, 1)
    section = {"columns": [f"column {k}" for k in range(n)], "real": matrix.tolist(),
               "synthetic": (matrix * 0.9).tolist()}
    keep = plots.heatmap_columns(section)  # the columns that differ most, in their order
    assert len(keep) == plots.MAX_HEATMAP_COLUMNS and keep == sorted(keep)
    worst = np.abs(matrix - matrix * 0.9).max(axis=1)
    assert min(worst[keep]) >= max(np.delete(worst, keep))
    small = {key: [row[:6] for row in section[key][:6]] for key in ("real", "synthetic")}
    drawn = plots.correlations({"columns": section["columns"][:6], **small})
    assert plots.heatmap_columns({"columns": section["columns"][:6], **small}) == list(range(6))
    assert Image.open(io.BytesIO(base64.b64decode(drawn))).size[0] > 600


def test_the_linkage_report_draws_with_its_bars_in_headless_chromium(tree):
    from linkage.report.browser import chromium, render

    if chromium() is None:
        pytest.skip("no Chromium on PATH: install Debian's `chromium` package to draw the report in a test")
    drawn = render(tree / "evaluator" / "report.html")
    assert drawn.ready and not drawn.errors and not drawn.console_errors, (drawn.errors, drawn.console_errors)
    assert drawn.charts == 9 and drawn.svg_count("chart-threshold") >= 1
    assert "id=\"contents\"" in drawn.dom and "../report.html" in drawn.dom and "../data_team/refused/risk/risk.html" \
        in drawn.dom
