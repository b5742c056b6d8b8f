"""`appliance doctor`: checks the running appliance end to end, concern by concern (appliance.concerns), and says
how to fix what fails."""

from dataclasses import dataclass

from appliance.concerns import CONCERNS, Concern, concerns_for
from appliance.declarations import Outcome, Settings, failed, passed, present
from appliance.settings import SettingsError, load


@dataclass(frozen=True)
class Result:
    name: str
    outcome: Outcome | None
    skipped_because: str = ""


def diagnose(environ) -> list[Result]:
    """Every check's result, in order; a check whose prerequisites failed is skipped, not run."""
    try:
        settings = load(environ)
    except SettingsError as error:
        problems = "\n".join(str(problem) for problem in error.problems)
        results = [Result("settings", failed(problems, "fix .env; `appliance check` shows the settings"))]
        return results + [Result(name, None, "the settings are invalid") for name in checked_names(None)]
    results = [Result("settings", passed("every setting is valid"))]
    ok = {"settings"}
    for concern in checked(settings):
        missing = [name for name in concern.needs if name not in ok]
        if missing:
            results.append(Result(concern.name, None, f"needs {' and '.join(missing)}"))
            continue
        outcome = run_guarded(concern, settings)
        results.append(Result(concern.name, outcome))
        if outcome.ok:
            ok.add(concern.name)
    return results


def checked(settings: Settings | None) -> tuple[Concern, ...]:
    """The concerns the doctor checks: those with a diagnosis (with invalid settings, the shared ones)."""
    concerns = CONCERNS if settings is None else concerns_for(settings)
    return tuple(concern for concern in concerns if concern.diagnose is not None)


def checked_names(settings: Settings | None) -> list[str]:
    return [concern.name for concern in checked(settings)]


def run_guarded(concern: Concern, settings: Settings) -> Outcome:
    """One check that breaks is one FAIL with its error; the report goes on with the others."""
    try:
        return present(concern.diagnose)(settings)
    except Exception as error:
        return failed(
            f"the check itself failed: {type(error).__name__}: {error}",
            "the other checks still ran; fix what they report first, then run the doctor again",
        )


def render(results: list[Result]) -> str:
    width = max(len(result.name) for result in results)
    indent = " " * (width + 8)
    lines = []
    for result in results:
        outcome = result.outcome
        if outcome is None:
            lines.append(f"{result.name:<{width}}  SKIP  {result.skipped_because}")
            continue
        detail = outcome.detail.replace("\n", "\n" + indent)
        lines.append(f"{result.name:<{width}}  {outcome.label}  {detail}")
        if outcome.fix:
            lines.append(f"{indent}fix: {outcome.fix}")
    return "\n".join(lines)
