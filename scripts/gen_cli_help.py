"""Regenerate hako/cli/helpdata.json from the docker CLI's own --help output.

The docker CLI's help texts (usage lines, one-line descriptions, flag types, descriptions and
defaults) are the spec of what ``hako --help`` prints. This script reads them once from
``/usr/local/bin/docker`` (or $DOCKER) and stores them as data; the hako CLI only reads the
JSON (the docker binary is never needed at run time). Run: ``python scripts/gen_cli_help.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

DOCKER = os.environ.get("DOCKER", "/usr/local/bin/docker")
OUT = os.path.join(os.path.dirname(__file__), "..", "hako", "cli", "helpdata.json")
# management commands hako serves (swarm, plugin, trust, manifest, checkpoint: not served)
GROUPS = ["builder", "container", "context", "image", "network", "system", "volume"]
FLAG = re.compile(r"^  (?:(-\w), )?\s*(--[\w-]+)(?: ([\w.-]+))?(?:\s{2,}(.*))?$")
COBRA_SECTIONS = {"Aliases:", "Examples:", "Options:", "Commands:", "Common Commands:",
                  "Management Commands:", "Swarm Commands:", "Global Options:"}
DEFAULT = re.compile(r"^(.*?)\s*\(default (.*)\)$", re.S)


def helptext(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["HOME"] = "/root"
    return subprocess.run([DOCKER, *args, "--help"], capture_output=True, text=True,
                          env=env, check=True).stdout


def sections(text: str) -> tuple[str, str, dict[str, list[str]]]:
    """→ (usage after 'docker ', short description, {section title: lines})."""
    lines = text.splitlines()
    usage = lines[0].split("docker ", 1)[1] if lines and lines[0].startswith("Usage:") else ""
    i = 1
    while i < len(lines) and lines[i].startswith("\t"):
        usage += "\n" + lines[i].strip().split("docker ", 1)[1]
        i += 1
    i += 1
    short = []
    while i < len(lines) and lines[i] not in COBRA_SECTIONS:
        short.append(lines[i].rstrip())
        i += 1
    out: dict[str, list[str]] = {}
    title = None
    for line in lines[i:]:
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            out[title] = []
        elif title and line.startswith(" "):
            out[title].append(line)
        elif line.strip():
            title = None
        elif not line.strip():
            title = None if title in ("Aliases",) else title
    return usage, "\n".join(short).strip("\n"), out


def parse_flags(lines: list[str]) -> dict[str, dict]:
    flags: dict[str, dict] = {}
    cur = None
    for line in lines:
        m = FLAG.match(line)
        if m:
            short, name, typ, desc = m.groups()
            cur = {"short": short or "", "type": typ or "", "desc": [desc or ""]}
            flags[name] = cur
        elif cur is not None:
            text = line.strip()
            if text.startswith("'") or text.startswith("Refer to"):
                cur["desc"].append(text)
            else:
                cur["desc"][-1] = (cur["desc"][-1] + " " + text).strip()
    for f in flags.values():
        desc = "\n".join(f["desc"])
        m = DEFAULT.match(desc)
        f["default"] = None
        if m:
            desc, f["default"] = m.group(1), m.group(2)
        f["desc"] = desc
    return flags


def commands_of(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        name, _, desc = line.strip().partition(" ")
        out.append((name, desc.strip()))
    return out


def entry(*path: str) -> dict:
    usage, short, secs = sections(helptext(*path))
    aliases = [a.strip() for a in " ".join(secs.get("Aliases", [])).split(",") if a.strip()]
    return {"usage": usage, "long": short, "aliases": aliases,
            "flags": parse_flags(secs.get("Options", []))}


def main() -> int:
    usage, short, secs = sections(helptext())
    data: dict = {"shorts": {}, "root": {"short": short, "sections": {}, "flags": parse_flags(
        secs.get("Global Options", []))}, "groups": {}, "commands": {}}
    for title in ("Common Commands", "Management Commands", "Commands"):
        data["root"]["sections"][title] = commands_of(secs.get(title, []))
    for group in GROUPS:
        _, gshort, gsecs = sections(helptext(group))
        subs = commands_of(gsecs.get("Commands", []))
        data["groups"][group] = {"short": gshort, "commands": subs}
        for sub, desc in subs:
            data["shorts"][f"{group} {sub}"] = desc
            data["commands"][f"{group} {sub}"] = entry(group, sub)
    groups = {n for n, _ in data["root"]["sections"]["Management Commands"]}
    for title in ("Common Commands", "Commands"):
        for name, desc in data["root"]["sections"][title]:
            data["shorts"][name] = desc
            if name in groups:
                continue
            doc = entry(name)
            if not any(a.split(" ", 2)[1:2] and " ".join(a.split()[1:]) in data["commands"]
                       for a in doc["aliases"] if len(a.split()) == 3):
                data["commands"][name] = doc
    with open(OUT, "w") as f:
        json.dump(data, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT}: {len(data['commands'])} commands", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
