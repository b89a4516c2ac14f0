"""gunicorn's settings for casework, read from the working directory (the
command line adds the rest: workers, bind address, timeouts; see the README's
deployment guide).

The cyclic garbage collector: what a worker loads at start-up (the app, its
templates, SQLAlchemy's mappers and compiled statements, about 150,000
objects) lives as long as the worker, yet every full collection walked all
of it again (85 ms each at 100,000 people, stalling every request queued
behind it). Once the app is loaded it is frozen out of the collector's
reach, and the youngest generation is collected after 10,000 allocations
rather than 700, since a page makes and drops thousands of objects.

The access log: an address's query can hold a name searched for, or a note
search's words, and the Referer the page before's address; each line logs
the path without its query, and no Referer. The error log: gunicorn writes
the address whole when a request fails ("Error handling request
/sign-in?next=/referrals?q%3DEllis%2BOkafor", found by review) and a bad
request's line; each worker takes the queries out of its records
(casework.logs.WithoutQueries).
"""

import gc
import logging

GC_THRESHOLDS = (10_000, 20, 20)

# gunicorn's default less the query (%(r)s is the request line with it, %(U)s
# the path without) and the Referer (%(f)s)
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'


def post_worker_init(worker):
    from casework.logs import strip_queries

    strip_queries(logging.getLogger("gunicorn.error"))  # the logger of gunicorn's error log
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
