"""The linkage report: one self-contained, interactive HTML page per linkage run.

``harmonie link`` writes ``report.html`` (with ``report_data.json``, its content, and
``one_to_one.parquet``, the pairs a threshold can link) beside the links; ``harmonie
evaluate`` writes it again with the truth: true precision, recall and F1 per threshold,
true and false pairs per pattern, errors by hard case. Modules, one job each:

- :mod:`linkage.report.patterns`: candidate pairs folded into comparison patterns (compiled);
- :mod:`linkage.report.data`: what the report shows, from a link result (:func:`build_link_report`);
- :mod:`linkage.report.charts`: the Vega-Lite specs and the rows they draw;
- :mod:`linkage.report.page`: the HTML page, with Vega inlined (works offline);
- :mod:`linkage.report.browser`: headless Chromium, to check a page draws and to take screenshots.

Python::

    from linkage.report import build_link_report, write_link_report
    write_link_report(build_link_report(result), "run/")   # result: linkage.link.link(...)
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "ReportSettings": "linkage.report.data", "LinkReportData": "linkage.report.data",
    "LinkReport": "linkage.report.data",
    "build_link_report": "linkage.report.data", "write_link_report": "linkage.report.data",
    "render_page": "linkage.report.page",
})
