"""The alert pipeline: named stages over one incident update at a time, the
runner that drives them for a payload, and the scheduler that brings due
incidents back to them."""
