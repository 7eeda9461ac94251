"""Exports: run reports, usage reports, dashboard PDFs, workflow definitions,
background export jobs and the weekly usage email (docs/reports.md)."""
