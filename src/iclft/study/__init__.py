"""Studies: a YAML config (config), the grid of cells and its runner (runner), results on disk (store), and
the report derived from them (report)."""
