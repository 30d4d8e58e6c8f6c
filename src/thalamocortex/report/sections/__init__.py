"""Report sections: each module has ``TITLE`` and ``render(results_dir, fig_dir) -> str``."""
