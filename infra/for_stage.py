"""Write the merge template with the Stage parameter defaulting to the stage being packaged."""

import json
import sys
from pathlib import Path

stage, out = sys.argv[1], Path(sys.argv[2])
template = json.loads((Path(__file__).parent / "resources.json").read_text())
template["Parameters"]["Stage"]["Default"] = stage
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(template, indent=2))
