"""The run directory on disk: its layout, checkpoints, export, and the crash points the tests inject."""
