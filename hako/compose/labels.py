"""compose's label names (``com.docker.compose.*``), read and written by every verb.

May import: nothing internal.
"""

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
VERSION = "com.docker.compose.version"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
ENV_FILE = "com.docker.compose.project.environment_file"
DEPENDS_ON = "com.docker.compose.depends_on"
IMAGE = "com.docker.compose.image"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
# the compose version whose labels and names we follow (tools read this label)
COMPOSE_VERSION = "2.24.0"


def project_filter(project: str, service: str | None = None, oneoff: bool | None = False
                   ) -> dict[str, list[str]]:
    """An Engine API ``filters`` value selecting a project's (or one service's) resources."""
    wanted = [f"{PROJECT}={project}"]
    if service:
        wanted.append(f"{SERVICE}={service}")
    if oneoff is not None:
        wanted.append(f"{ONEOFF}={'True' if oneoff else 'False'}")
    return {"label": wanted}
