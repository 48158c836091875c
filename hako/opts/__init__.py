"""Pure parsers for user-facing syntax (layer 2), shared by cli, compose and daemon."""
