"""``make bench``: webhook ingest throughput and latency, responder vs a bare endpoint."""
