"""Studies, in the order data flows: a YAML config (config, catalog of shipped configs), the grid of cells (grid),
their cost (cost), running them (run), results on disk (store), one study's report (report), the paper's claims
(claims) and the results page across studies (results_page). docs/architecture.md traces the main job."""
