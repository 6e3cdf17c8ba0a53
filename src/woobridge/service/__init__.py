"""``woobridge serve``: the web app (connections, flows, runs, record errors, JSON API, /metrics), the flow scheduler
and the webhook receiver, in one process. Start it with ``woobridge serve``; see the README's "Running woobridge
serve"."""
