"""Lambda entry points for `zappa invoke`, schedules and streams. They never import Flask."""
