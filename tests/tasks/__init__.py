"""Tests of the Lambda side: Zappa's settings, its real handler, and the task entry points."""
