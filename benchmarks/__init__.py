"""Benchmarks for issue 7: latency, backlogs, memory, scheduling and the workbook.

Run them with `python -m benchmarks.run` (see README.md, "Performance").
"""
