"""Container cgroups: the CgroupManager protocol (base), v1 and v2 drivers, and detect.

Layer: runtime (3). May import: errors. Entry point: ``detect.new_manager``.
"""
