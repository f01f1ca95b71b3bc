"""Runs a peer script (e.g. ../shared/peers/torch_lstm_mle.py) and prints its peak memory.
Usage: peak_rss.py SCRIPT [ARGS...]"""
import resource, runpy, sys

script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.1f}")
