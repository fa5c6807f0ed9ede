"""The HTTP server under the Slack and Teams doubles."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """A stand-in's server with a real server's listen backlog. The standard library queues 5
    connections; under a benchmark's 50 clients the kernel then resets the bot's connections, a
    failure neither Slack nor Teams shows, which made the ack benchmark log a traceback now and then."""

    request_queue_size = 128
    daemon_threads = True
