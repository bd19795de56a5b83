"""The application: the pipeline (its bpy-free half in ``dataset``), collections, ``validate``, the stream's
instances and the processes of our own. Above ``core``, ``exporters``, ``stream`` and ``blender_io``; below the job
contract (``cloud``), the CLI (``commands``) and the operators."""
