"""infra/resources.json as a stack of its own, for the `chalice deploy` road.

`make package` merges infra/resources.json into what `chalice package` generates; `chalice deploy`
generates only the functions, the API, the SQS event sources and the schedules. This module derives,
from the same file and from Chalice's own model of the app, everything the Chalice road still needs,
with no per-resource code (a resource someone adds to infra/resources.json is carried as it is):

- ``infra``: every typed resource that does not attach to a Chalice-made resource (tables, topics,
  queues, the bucket, secrets, state machines, alarms, log groups, subscriptions, queue policies).
  A ``Ref``/``Fn::GetAtt`` to a Chalice function becomes its name or ARN, as Chalice names it.
- ``wired``: ``infra`` plus the resources that need a function to exist (``AWS::Lambda::*``, e.g.
  the DynamoDB stream mappings, which Chalice makes only for ``on_dynamodb_record`` and without
  retries, bisection, filters or an on-failure destination) - deployed once the functions exist.
- ``after_chalice``: what CloudFormation cannot own on this road and deploy_infra.py applies through
  the APIs after each `chalice deploy`: the merge fragments' event-source properties (e.g.
  ``FunctionResponseTypes: [ReportBatchItemFailures]`` on the SQS mappings Chalice makes) and the
  resources that refer to the REST API (gateway responses: `chalice deploy` rewrites the API with
  ``put_rest_api(mode="overwrite")``, dropping anything a stack had added to it).
- Globals (function environment) are not deployed: the app resolves the topic and state machine ARNs
  and the bucket by their conventional names (chalicelib/core/config.py); the stack outputs them
  so a test proves that convention and the template agree.

Usage: python infra/infra_template.py STAGE OUTDIR  ->  OUTDIR/{infra,wired,after_chalice}.json
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PSEUDO = re.compile(r"^AWS::")
SUB_REF = re.compile(r"\$\{([^}!]+)\}")
# Resources that attach to a function and fail while it does not exist.
NEEDS_FUNCTION_PREFIX = "AWS::Lambda::"


@dataclass(frozen=True)
class ChaliceModel:
    """What `chalice deploy` makes, keyed by the logical id `chalice package` gives it."""

    functions: dict[str, str]  # logical id -> function name (freshcart-<stage>-<name>)
    others: set[str] = field(default_factory=set)  # RestAPI, roles, event sources, ...
    api_gateway_stage: str = "api"
    sam: dict[str, Any] = field(default_factory=dict)  # what `chalice package` writes (no zip)


def chalice_model(stage: str, project_dir: Path = ROOT) -> ChaliceModel:
    """Chalice's own application graph for the stage (imports app.py, as `chalice package` does)."""
    import botocore.session
    from chalice.awsclient import TypedAWSClient
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.package import PackageOptions, SAMTemplateGenerator

    config = CLIFactory(str(project_dir)).create_config_obj(chalice_stage_name=stage)
    resources = DependencyBuilder().build_dependencies(ApplicationGraphBuilder().build(config, stage))
    # The logical ids are those `chalice package` writes (its SAM generator, without building the
    # zip); a function's name is the one `chalice deploy` gives it. Both name the same handler.
    names = {r.handler: r.function_name for r in resources if isinstance(r, models.LambdaFunction)}
    options = PackageOptions(TypedAWSClient(botocore.session.get_session()))
    generated = SAMTemplateGenerator(config, options).generate(resources)
    functions: dict[str, str] = {}
    others: set[str] = set()
    for logical, res in generated["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            functions[logical] = names[res["Properties"]["Handler"]]
        else:
            others.add(logical)
    return ChaliceModel(functions, others, config.api_gateway_stage, generated)


def function_ref(model: ChaliceModel, stage: str, logical: str, attr: str | None) -> Any:
    """A function's name (``Ref``) or ARN (``Fn::GetAtt ... Arn``), as a stage-generic Fn::Sub."""
    name = model.functions[logical].replace(f"-{stage}", "-${Stage}", 1)
    if attr is None:
        return {"Fn::Sub": name}
    if attr == "Arn":
        return {"Fn::Sub": f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"}
    raise ValueError(f"Fn::GetAtt {logical}.{attr}: only a Chalice function's Arn is known before it exists")


def rewrite(value: Any, model: ChaliceModel, stage: str, found: set[str]) -> Any:
    """``value`` with references to Chalice functions turned into names/ARNs; every Chalice-made
    resource referred to (functions included) is added to ``found``."""
    if isinstance(value, list):
        return [rewrite(v, model, stage, found) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and isinstance(value["Ref"], str):
        target = value["Ref"]
        if target in model.functions:
            found.add(target)
            return function_ref(model, stage, target, None)
        if target in model.others:
            found.add(target)
        return value
    if set(value) == {"Fn::GetAtt"}:
        getatt = value["Fn::GetAtt"]
        target, attr = getatt if isinstance(getatt, list) else getatt.split(".", 1)
        if target in model.functions:
            found.add(target)
            return function_ref(model, stage, target, attr)
        if target in model.others:
            found.add(target)
        return value
    if set(value) == {"Fn::Sub"}:
        text, extra = (value["Fn::Sub"], None) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

        def sub(m: re.Match[str]) -> str:
            key = m.group(1)
            target, _, attr = key.partition(".")
            if extra and key in extra:
                return m.group(0)
            if target in model.functions:
                found.add(target)
                return str(function_ref(model, stage, target, attr or None)["Fn::Sub"])
            if target in model.others:
                found.add(target)
            return m.group(0)

        text = SUB_REF.sub(sub, text)
        if extra is None:
            return {"Fn::Sub": text}
        return {"Fn::Sub": [text, rewrite(extra, model, stage, found)]}
    return {k: rewrite(v, model, stage, found) for k, v in value.items()}


def references(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    out: set[str] = set()
    if isinstance(value, list):
        for v in value:
            out |= references(v)
    elif isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            out.add(value["Ref"])
        if "Fn::GetAtt" in value:
            ga = value["Fn::GetAtt"]
            out.add(ga[0] if isinstance(ga, list) else ga.split(".", 1)[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            out |= {m.split(".", 1)[0] for m in SUB_REF.findall(text)}
        for k, v in value.items():
            if k != "Ref":
                out |= references(v)
    return {r for r in out if not PSEUDO.match(r)}


def derive(template: dict[str, Any], model: ChaliceModel, stage: str) -> dict[str, Any]:
    """The three documents described in the module docstring."""
    resources: dict[str, Any] = template["Resources"]
    fragments = {n: r for n, r in resources.items() if "Type" not in r}
    typed: dict[str, Any] = {}
    chalice_refs: dict[str, set[str]] = {}
    for name, res in resources.items():
        if "Type" not in res:
            continue
        found: set[str] = set()
        typed[name] = rewrite(copy.deepcopy(res), model, stage, found)
        chalice_refs[name] = found
    # Which phase each resource belongs to, then the closure: a resource that refers to a later one
    # is later too.
    api_bound = {n for n, f in chalice_refs.items() if f - set(model.functions)}
    wired = {n for n, f in chalice_refs.items() if f and typed[n]["Type"].startswith(NEEDS_FUNCTION_PREFIX)}
    wired -= api_bound
    changed = True
    while changed:
        changed = False
        for name, res in typed.items():
            if name in api_bound or name in wired:
                continue
            refs = references({k: v for k, v in res.items() if k != "Type"})
            if refs & api_bound:
                api_bound.add(name)
                changed = True
            elif refs & wired:
                wired.add(name)
                changed = True
    for name in api_bound:
        unknown = chalice_refs[name] - set(model.functions) - {"RestAPI"}
        if unknown:
            raise ValueError(f"{name} refers to {sorted(unknown)}, which the chalice deploy road cannot resolve")

    base = {k: copy.deepcopy(v) for k, v in template.items() if k not in ("Globals", "Resources", "Outputs")}
    base["Description"] = f"freshcart {stage}: the resources `chalice deploy` does not make (from infra/resources.json)"
    base["Parameters"]["Stage"]["Default"] = stage
    infra_names = [n for n in typed if n not in wired and n not in api_bound]
    outputs: dict[str, Any] = {}
    for name, spec in template.get("Outputs", {}).items():
        if references(spec) <= set(infra_names):
            outputs[name] = spec
    env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for key, value in env.items():
        if references(value) <= set(infra_names):
            outputs["Env" + "".join(p.capitalize() for p in key.split("_"))] = {
                "Description": f"the functions' {key}",
                "Value": value,
            }

    def stack(names: list[str]) -> dict[str, Any]:
        doc = copy.deepcopy(base)
        doc["Resources"] = {n: _without_depends_on_outside(typed[n], set(names)) for n in names}
        doc["Outputs"] = outputs
        return doc

    after_chalice = {
        "event_sources": {
            model.functions[name]: {
                src: props.get("Properties", {}) for src, props in frag.get("Properties", {}).get("Events", {}).items()
            }
            for name, frag in fragments.items()
            if name in model.functions and frag.get("Properties", {}).get("Events")
        },
        "not_carried": {
            name: sorted(set(frag.get("Properties", {})) - {"Events"})
            for name, frag in fragments.items()
            if set(frag.get("Properties", {})) - {"Events"} or name not in model.functions
        },
        "api_resources": {n: typed[n] for n in typed if n in api_bound},
        "api_gateway_stage": model.api_gateway_stage,
        "functions": model.functions,
        "wired": sorted(wired),
        "functions_needed": sorted({model.functions[f] for n in wired for f in chalice_refs[n] & set(model.functions)}),
    }
    return {
        "infra": stack(infra_names),
        "wired": stack([n for n in typed if n not in api_bound]),
        "after_chalice": after_chalice,
    }


def _without_depends_on_outside(res: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """DependsOn entries naming Chalice resources (not in this stack) are dropped."""
    res = copy.deepcopy(res)
    deps = res.get("DependsOn")
    if isinstance(deps, str):
        deps = [deps]
    if deps is not None:
        kept = [d for d in deps if d in names]
        if kept:
            res["DependsOn"] = kept
        else:
            del res["DependsOn"]
    return res


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python infra/infra_template.py STAGE OUTDIR", file=sys.stderr)
        return 2
    stage, out = argv[0], Path(argv[1])
    from freshcart_local.provision import load_template  # the template with its ASL inlined
    from infra import ops

    model = chalice_model(stage)
    template = ops.add(load_template(), {n: function_ref(model, stage, n, None) for n in model.functions})
    docs = derive(template, model, stage)
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    after = docs["after_chalice"]
    print(
        f"infra template for {stage}: {len(docs['infra']['Resources'])} resources in {out}/infra.json; "
        f"after chalice deploy: {len(after['wired'])} more ({', '.join(after['wired']) or '-'}), "
        f"{len(after['api_resources'])} on the REST API, event-source settings for "
        f"{len(after['event_sources'])} functions"
    )
    for name, keys in after["not_carried"].items():
        print(f"warning: the chalice deploy road does not carry {name} {keys or '(no such function)'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
