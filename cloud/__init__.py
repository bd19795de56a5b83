"""The job contract and its batch engines: a job folder is a worker's only input (``job``), ``submit`` makes
it, ``worker`` renders a shard, ``status`` watches, ``collect`` finalises without Blender. Engines: ``local``
(``--workers N``) and ``slurm``. Part of the application layer, beside ``app``."""
