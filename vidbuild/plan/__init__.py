"""What a build must do for each row and why: the same decision for ``plan`` and ``build``, the
rows kept off the heap between a build's two passes, and the snapshot that makes a no-op build instant."""
