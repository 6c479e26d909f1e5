"""``canaria evaluate``: score a served model (and a baseline) on a labelled dataset, through
the Open Inference Protocol V2; the acceptance Job of a rollout runs it."""
