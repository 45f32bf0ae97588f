"""gunicorn's settings, read from the working directory (the Procfile's `web`, `make bench`).

The access log keeps the path without its query string (`%(U)s`, not `%(r)s`) and no
Referer: a URL's query could carry a name, a NIK or a phone number (UU PDP). The app sends
such values only in request bodies; this holds even for an old client or a pasted link.
"""

accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'


def post_worker_init(worker):
    """The app's own objects (modules, models, schemas, compiled statements) set apart from
    the garbage collector once the worker has loaded it: a full collection then walks only
    what requests made. A pull page makes thousands of objects, and every few pages a full
    collection walked the whole app again (about as long as a page itself: bench/README.md)."""
    import gc

    gc.collect()
    gc.freeze()
