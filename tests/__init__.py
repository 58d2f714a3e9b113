"""tradeapp's tests; a package so that tests/tasks is `tests.tasks` and never shadows `tasks`."""
