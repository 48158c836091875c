"""The Compose Specification (``compose.yaml``) as a pure Engine API client.

Client stack: may import ``errors``, ``support``, ``opts`` and ``client`` only (never the
engine). Loading goes files → YAML with line marks (:mod:`.yamlfile`) → interpolation
(:mod:`.interpolate`) → validation (:mod:`.schema`) → merge, extends, include, profiles
(:mod:`.loader`) → the normalised model (:mod:`.model`) → dependency graph (:mod:`.graph`)
→ Engine API bodies (:mod:`.convert`) → operations (:mod:`.project`).
"""
