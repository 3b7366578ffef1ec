"""Write the merge template with the Stage parameter defaulting to the stage being packaged.

Every Chalice function gets its Chalice name (``freshcart-<stage>-<name>``) as ``FunctionName``:
`chalice package` leaves it out, so CloudFormation would invent one, while the state machines and
their role name the functions as `chalice deploy` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from freshcart_local.provision import load_template  # the template with its ASL inlined
from infra.infra_template import chalice_model, function_ref


def merge_template(stage: str) -> dict[str, Any]:
    template = load_template()
    template["Parameters"]["Stage"]["Default"] = stage
    model = chalice_model(stage)
    for logical in model.functions:
        fragment = template["Resources"].setdefault(logical, {})
        fragment.setdefault("Properties", {})["FunctionName"] = function_ref(model, stage, logical, None)
    return template


if __name__ == "__main__":
    stage, out = sys.argv[1], Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merge_template(stage), indent=2))
