"""Write the merge template with the Stage parameter defaulting to the stage being packaged."""

import json
import sys
from pathlib import Path

stage, out = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from freshcart_local.provision import load_template  # noqa: E402 - the template with its ASL inlined

template = load_template()
template["Parameters"]["Stage"]["Default"] = stage
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(template, indent=2))
