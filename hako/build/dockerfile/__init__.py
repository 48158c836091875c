"""The Dockerfile language: directives, parsing into typed instructions, word expansion.

Layer 5 (build). May import: errors, support.
"""
