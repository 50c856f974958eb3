"""The database report: ``python -m pipeline.report OUT`` writes OUT/report/index.html (plots and thumbnails beside
it, self-contained: no server, no network), OUT/report/stats.json and the dataset card OUT/README.md.

Python API: ``pipeline.report.build.build_report(pipeline.report.settings.ReportSettings(out, ...))``. Modules:
``tables`` reads the manifests, ``aggregate`` and ``correlations`` compute, ``plots`` and ``examples`` draw,
``render`` (templates/) and ``card`` write.
"""
