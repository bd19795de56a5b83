"""The job contract and its batch engines: a job is a folder (or a prefix in a bucket) that is a worker's only
input (``job``, ``places``); ``actions`` submits, follows, retries, cancels and collects it, on any engine of
``engines.ENGINES`` (local, Slurm, AWS Batch, Kubernetes, Google Cloud Batch). Above ``app``, below the CLI
(``commands``) and the operators."""
