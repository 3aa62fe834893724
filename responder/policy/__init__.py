"""Stage 5: the policy engine — layered CEL policies, confidence gating, explain."""
