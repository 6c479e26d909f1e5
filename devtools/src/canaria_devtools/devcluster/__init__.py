"""A real Kubernetes control plane for development and tests, without Docker.

`canaria dev-cluster build|up|down|status|env` builds the upstream components from their Go
modules (cached under ``~/.cache/canaria/testbin``), runs them on 127.0.0.1 and runs the pods
that use the Canaria image as local processes (see :mod:`.runner`).

Python API (used by the test fixture)::

    from canaria_devtools.devcluster.cluster import DevCluster, up, down, load
    cluster = up()            # idempotent; builds missing binaries first
    cluster.kubeconfig        # pathlib.Path
    cluster.prometheus_url    # "http://127.0.0.1:<port>"
    cluster.env()             # {"KUBECONFIG": ..., "PATH": <built binaries first>, ...}
    down()
"""
