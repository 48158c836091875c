"""Pure parsers for user-facing syntax, shared by cli, compose and daemon.

Layer 2. May import: errors, support, oci. No I/O except reading an env file's text.
"""
