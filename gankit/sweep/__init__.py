"""``gankit sweep``: train one base spec under several settings (variants) and seeds, then compare.

A sweep file names a base spec, seeds and variants (``[[variant]]`` tables and/or a ``[grid]`` product of
values); :mod:`gankit.sweep.plan` turns it into runs and validates every expanded spec before anything starts;
:mod:`gankit.sweep.state` decides what each run folder still needs (nothing, ``--resume`` or a fresh start) and
keeps the sweep record that protects finished runs from a changed sweep file; :mod:`gankit.sweep.launch` runs
them, here (``--jobs N``) or as a Slurm job array through submitit; :mod:`gankit.sweep.results` writes the
tables and the plot. Every run is an ordinary ``gankit train`` subprocess, so a run folder made by a sweep is
the same as one made by hand. Nothing here imports torch.
"""
