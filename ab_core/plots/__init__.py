"""Pictures and tables of runs: a run's metric history (`metrics.csv`, `curves.png`), a sweep's trials
(`trials.png`), several runs' curves side by side and a leaderboard's bars.

Every picture draws with matplotlib's object API on an Agg canvas (imported lazily, no pyplot, no global
backend), so ab_core still imports with torch alone.
"""
