"""What a task's Dockerfile and runner give its environment: the steps, their kinds, the
packages-as-of date, and one-line reasons when something cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO

from cooperbench.generation import GenerationError, load_task
from cooperbench.generation.tasks.dockerfile import (
    INSTALL,
    LAYOUT,
    REPOSITORY,
    SYSTEM,
    expand_from_image,
    parse_dockerfile,
)
from cooperbench.generation.tasks.environment import explain_failure, plan_for

DOCKERFILE = """FROM python:3.11-slim AS base
ARG VERSION=1
RUN apt-get update && apt-get install -y git \\
    libjpeg-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /workspace
RUN git clone https://github.com/o/r.git repo && cd repo && git checkout abc
ENV PIP_NO_CACHE_DIR=1 MODE=v${VERSION}
WORKDIR repo
# a comment inside
RUN pip install --upgrade pip && \\
    pip install -e ".[dev]"
RUN ["python", "-m", "pip", "install", "pytest"]
RUN <<EOF
pip install a
pip install b
EOF
COPY runner.sh /usr/local/bin/
RUN chmod +x /usr/local/bin/runner.sh
ENTRYPOINT ["/usr/local/bin/runner.sh"]
"""


def test_dockerfile_steps_with_their_place_environment_and_kind(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    parsed = parse_dockerfile(tmp_path / "Dockerfile")
    assert parsed.base_image == "python:3.11-slim"
    kinds = [(s.line, s.kind, s.workdir) for s in parsed.steps]
    assert kinds == [(3, SYSTEM, "/"), (6, REPOSITORY, "/workspace"), (10, INSTALL, "/workspace/repo"),
                     (12, INSTALL, "/workspace/repo"), (13, INSTALL, "/workspace/repo"), (18, LAYOUT, "/workspace/repo")]
    install = parsed.steps[2]
    assert install.command == 'pip install --upgrade pip &&  pip install -e ".[dev]"'
    assert dict(install.env) == {"PIP_NO_CACHE_DIR": "1", "MODE": "v1", "VERSION": "1"}
    assert parsed.steps[3].command == "python -m pip install pytest"
    assert parsed.steps[4].command == "pip install a\npip install b"


def test_variables_the_dockerfile_does_not_set_come_from_the_image(tmp_path):
    """`ENV PATH="/root/.cargo/bin:${PATH}"` (Rust and Go images): Docker's rule expands PATH
    from the image's environment, never to the empty string."""
    (tmp_path / "Dockerfile").write_text('FROM rust:1.80\nENV PATH="/root/.cargo/bin:${PATH}" A=1 B=$A:$HOME\n'
                                         "RUN cargo --version\n")
    step = parse_dockerfile(tmp_path / "Dockerfile").steps[0]
    assert dict(step.env) == {"PATH": "/root/.cargo/bin:${PATH}", "A": "1", "B": "1:$HOME"}
    image = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    assert expand_from_image(dict(step.env), image) == {"PATH": "/root/.cargo/bin:/usr/bin:/bin", "A": "1", "B": "1:/root"}


@pytest.mark.slow
def test_a_build_step_with_an_extended_path_still_finds_the_system(demo_copy, isolated_cache):
    """The same line in a real build: the step runs (sh, timeout and the shims are found)."""
    dockerfile = demo_copy / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("\nRUN ", '\nENV PATH="/root/.cargo/bin:${PATH}"\nRUN ', 1))
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.tasks.task import resolve_repo

    task = load_task(demo_copy)
    with open_sandbox(task, "local", resolve_repo(task)) as sandbox:
        assert sandbox.run("python -c 'import miniconf'", timeout=60).ok


@pytest.mark.slow
def test_the_warm_up_serves_what_a_dockerfile_step_installed():
    """The demo's Dockerfile step and its runner.sh both run `pip install -e ".[dev]"` in the
    repository: the step makes it and the warm-up run serves it, as test runs will, so it is
    recorded once (it used to run twice)."""
    from cooperbench.generation.core.contract import STATE_DIR, WORKSPACE
    from cooperbench.generation.sandbox.local_backend import ensure_environment
    from cooperbench.generation.tasks.task import resolve_repo

    task = load_task(DEMO)
    state = ensure_environment(task, resolve_repo(task)) / "workspace" / Path(STATE_DIR).relative_to(WORKSPACE)
    installs = (state / "installs.tsv").read_text().splitlines()
    assert installs == ["/workspace/repo\tpip install --upgrade pip", "/workspace/repo\tpip install -e .\\[dev\\]"]


def test_a_garbage_dockerfile_is_one_line(tmp_path):
    (tmp_path / "Dockerfile").write_text("this is not\na dockerfile\n")
    with pytest.raises(GenerationError, match=r"Dockerfile: line 1: `THIS` is no Dockerfile instruction"):
        parse_dockerfile(tmp_path / "Dockerfile")


def test_plan_of_the_demo_and_its_key():
    task = load_task(DEMO)
    plan = plan_for(task)
    assert [s.kind for s in plan.steps] == [INSTALL, LAYOUT] and plan.runner == task.runner
    assert plan.key("local") != plan.key("docker")  # one environment per backend
    assert plan.key("local") == plan_for(load_task(DEMO)).key("local")  # and stable


@pytest.mark.parametrize(
    "output, code, cause",
    [
        ("bash: line 3: go: command not found\n", 127, "missing toolchain or tool: go (exit 127)"),
        ("error: no matching package named `serde` found\n", 101, "the Rust crate registry cannot be reached"),
        ("ERROR: No matching distribution found for torch==9.9\n", 1, "a Python package cannot be had: torch==9.9"),
        ("E   ModuleNotFoundError: No module named 'dspy'\n", 2, "import error: ModuleNotFoundError: No module named 'dspy'"),
        ("Error: getaddrinfo ENOTFOUND download.cypress.io\n", 1, "download.cypress.io cannot be reached from here"),
        ("something odd\nthe last line\n", 3, "exit 3: the last line"),
    ],
)
def test_failures_name_their_cause(output, code, cause):
    assert cause in explain_failure(output, code)
