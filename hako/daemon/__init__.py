"""The engine process (layer 6). May import everything below; never client, compose or cli."""
