"""Python's prometheus_client on the same series as benches/exporter.rs (`render` group):
N counters `moai_flow_events_total{event_type="event_i"}`, timing generate_latest().

pip install prometheus_client && python3 moai-instrument/benches/generate_latest.py
"""
import timeit

from prometheus_client import CollectorRegistry, Counter, generate_latest

for n in (1, 100, 1_000, 10_000):
    registry = CollectorRegistry()
    events = Counter("moai_flow_events", "Total number of events processed", ["event_type"], registry=registry)
    for i in range(n):
        events.labels(event_type=f"event_{i}").inc(i)
    runs = max(3, 3000 // n)
    best = min(timeit.repeat(lambda: generate_latest(registry), number=runs, repeat=5)) / runs
    print(f"generate_latest {n:>6} series: {best * 1e6:10.1f} µs")
