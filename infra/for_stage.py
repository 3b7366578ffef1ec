"""Write the merge template with the Stage parameter defaulting to the stage being packaged.

Every Chalice function gets its Chalice name (``freshcart-<stage>-<name>``) as ``FunctionName``:
`chalice package` leaves it out, so CloudFormation would invent one, while the state machines and
their role name the functions as `chalice deploy` does. The alarms and dashboard come from
infra/ops.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from freshcart_local.provision import load_template  # the template with its ASL inlined
from infra import ops
from infra.infra_template import ChaliceModel, chalice_model, function_ref


def merge_template(stage: str, model: ChaliceModel | None = None) -> dict[str, Any]:
    template = load_template()
    template["Parameters"]["Stage"]["Default"] = stage
    model = model or chalice_model(stage)
    names = {logical: function_ref(model, stage, logical, None) for logical in model.functions}
    for logical, name in names.items():
        template["Resources"].setdefault(logical, {}).setdefault("Properties", {})["FunctionName"] = name
    return ops.add(template, names)


def packaged_template(stage: str) -> dict[str, Any]:
    """What `make package` deploys (Chalice's SAM with the merge template merged, as `chalice
    package --merge-template` merges it), without building the zip: for tests."""
    from chalice.package import TemplateDeepMerger

    model = chalice_model(stage)
    merged: dict[str, Any] = TemplateDeepMerger().merge(merge_template(stage, model), model.sam)
    return merged


if __name__ == "__main__":
    stage, out = sys.argv[1], Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merge_template(stage), indent=2))
