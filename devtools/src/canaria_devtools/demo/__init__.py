"""``canaria demo``: the dev cluster, the operator and two rollouts, live (see ``run``)."""
