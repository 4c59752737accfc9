"""The daily HTML report of a monitor: page, HTML pieces, plots."""
