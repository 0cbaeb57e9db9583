"""The agent's model: any litellm model name, or `replay/<session>`.

Before any sandbox starts a model is checked twice: statically (a known name, its API key, or a
readable replay file) and, for a live model, by one cheap call, so an unreachable endpoint or a
refused key fails the run in seconds instead of after minutes of retries inside an attempt.
"""

from __future__ import annotations

from pathlib import Path

from cooperbench.generation.agent.replay import is_replay, make_replay_model, recorded_turns, sessions
from cooperbench.generation.errors import GenerationError, InfrastructureError


def litellm_module():
    """litellm, imported on first use: the import costs some 6 CPU-s, which only live models pay."""
    import litellm

    litellm.suppress_debug_info = True  # no "Provider List" banners for unpriced models
    return litellm


def check_model(model_name: str, task_path: Path) -> None:
    """Fail in one line on an unknown model name, a missing API key, or a missing or unreadable
    replay file."""
    if is_replay(model_name):
        for session in sessions(model_name, task_path):
            recorded_turns(session)
        return
    litellm = litellm_module()
    try:
        litellm.get_llm_provider(model_name)
    except Exception:
        raise GenerationError(f"{model_name}: unknown model (litellm names look like provider/model, e.g. gemini/gemini-3-flash-preview)") from None
    missing = litellm.validate_environment(model=model_name).get("missing_keys") or []
    if missing:
        raise GenerationError(f"{model_name}: missing API key: set {' or '.join(missing)} (environment or .env)")


def probe_model(model_name: str, model_kwargs: dict, retries: int, timeout: float = 60.0) -> None:
    """One tiny completion: the endpoint answers and takes the key. Replays need no probe."""
    if is_replay(model_name):
        return
    litellm = litellm_module()
    try:
        litellm.completion(model=model_name, messages=[{"role": "user", "content": "Reply with OK."}],
                           max_tokens=1, timeout=timeout, num_retries=retries, **model_kwargs)
    except Exception as exc:
        raise InfrastructureError(f"{model_name}: the model cannot be used ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200] if str(exc) else 'no message'})") from None


def price_known(model_name: str) -> bool:
    if is_replay(model_name):
        return True
    try:
        info = litellm_module().get_model_info(model_name)
    except Exception:
        return False
    return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))


def make_model(model_name: str, model_kwargs: dict, task_path: Path, session: str | None = None, retries: int = 1):
    """The agent's model. A call is retried by litellm, `retries` times in all; mini-swe-agent's
    own retry loop (whose count is a process-wide variable) is told every error ends it."""
    if is_replay(model_name):
        return make_replay_model(model_name, task_path, session)
    litellm_module()
    from minisweagent.models.litellm_model import LitellmModel

    model = LitellmModel(model_name=model_name, model_kwargs={**model_kwargs, "num_retries": max(0, retries - 1)},
                         cost_tracking="ignore_errors")
    model.abort_exceptions = [BaseException]
    return model


def is_model_behaviour(exc: Exception) -> bool:
    """An error that says something about the model's work (its context overflowed), as opposed
    to the machinery around it."""
    return type(exc).__name__ in ("ContextWindowExceededError",)
