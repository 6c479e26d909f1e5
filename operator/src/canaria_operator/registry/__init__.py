"""The MLflow model registry: references (:mod:`.uri`), what a reconcile read of it
(:mod:`.read`, pure data), the REST client (:mod:`.client`), the resolution of a
ModelDeployment's model (:mod:`.resolve`) and the webhook endpoint (:mod:`.webhook`).

Nothing is imported here, so the pure modules stay importable without httpx."""
