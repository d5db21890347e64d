"""Carry out a plan against HeyGen: ``engine`` runs the loop over a ``window`` of rows; ``submit``,
``poll``, ``download``, ``recover`` and ``reconcile`` handle each row's steps through a shared
``context``; ``outcome`` is what a run ends with and the ``Reporter`` it tells on the way."""
