-- wrk: print one machine-readable line at the end of a run (latencies in ms).
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d errors=%d "
    .. "p50=%.2f p95=%.2f p99=%.2f max=%.2f\n",
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
