"""Shared plumbing for the pipeline, the builders and the QA harness: run a command, wait on a
condition, write a file whole. The lowest layer: it imports nothing from this project."""
