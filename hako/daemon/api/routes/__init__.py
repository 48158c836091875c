"""One module per API resource: parse, call a service, render."""
