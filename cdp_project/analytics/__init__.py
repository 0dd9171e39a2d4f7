"""What the data says, at a glance: the dashboard's figures, the commerce funnel, retention
cohorts and the RFM grid (docs/analytics.md).

Analytics read every app (events and the catalog, profiles and orders, segment membership),
as campaigns do; they live beside the dashboard in the project package rather than in one
app that would then depend on all the others. Reads only: the one table they need written,
the events-per-hour rollup, belongs to ingestion (`ingestion.rollups`).
"""
