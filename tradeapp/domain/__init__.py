"""The pure domain: trades, their figures and (later) the stats fold. No I/O, no frameworks."""
