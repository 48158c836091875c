"""Generic helpers with no container knowledge. Layer 1. May import: errors."""
