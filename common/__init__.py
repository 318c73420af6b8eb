"""Plumbing shared by every package: the error base class and exit codes, atomic writes, CPU threads.

Imports nothing heavy: ``common.cpu`` must be importable before Paddle (see its docstring).
"""
