"""The seam the UI talks to: a Backend protocol with neutral results (base),
and the implementations behind it (local: the embedded engine)."""
