"""Snapshotters: the Snapshotter protocol and its overlay and native implementations."""
